//! Multi-user chat rooms that persist (XEP-0045): configuration (opaque JSON here), subject,
//! and affiliations with reserved nicknames. Room history lives in the archive, owned by the
//! room's JID.

use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    pub jid: String,
    pub config: String,
    pub subject: String,
    pub subject_by: String,
}

/// A lasting standing in a room (XEP-0045 §5.2), stored as its name; having none is having
/// no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAffiliation {
    Owner,
    Admin,
    Member,
    Outcast,
}

stored_enum!(RoomAffiliation, "room affiliation", {
    Owner => "owner",
    Admin => "admin",
    Member => "member",
    Outcast => "outcast",
});

/// A stored affiliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffiliationRow {
    pub jid: String,
    pub affiliation: RoomAffiliation,
    pub nick: String,
    pub reason: String,
}

/// A push registration with a room, by token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPushRow {
    pub token: String,
    pub service: String,
    pub occupant_id: String,
    pub nick: String,
}

/// Repository of rooms (`db.muc()`).
pub struct Muc<'a> {
    pub(crate) db: &'a Db,
}

impl Muc<'_> {
    pub async fn room(&self, jid: &str) -> Result<Option<RoomRow>, StorageError> {
        const SQL: &str = "SELECT jid, config, subject, subject_by FROM muc_room WHERE jid = $1";
        let row: Option<(String, String, String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(jid).fetch_optional(p).await)?;
        Ok(row.map(|(jid, config, subject, subject_by)| RoomRow { jid, config, subject, subject_by }))
    }

    /// The JIDs of the stored rooms of a service (`@conference.example.org`), by name.
    pub async fn rooms(&self, service: &str) -> Result<Vec<RoomRow>, StorageError> {
        const SQL: &str = "SELECT jid, config, subject, subject_by FROM muc_room WHERE jid LIKE $1 ORDER BY jid";
        // `_` and `%` in the pattern may over-match; the exact suffix is checked below.
        let suffix = format!("@{service}");
        let pattern = format!("%{suffix}");
        let rows: Vec<(String, String, String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(&pattern).fetch_all(p).await)?;
        let rows = rows.into_iter().filter(|(jid, ..)| jid.ends_with(&suffix));
        Ok(rows.map(|(jid, config, subject, subject_by)| RoomRow { jid, config, subject, subject_by }).collect())
    }

    /// Stores a room as it is now, in one transaction: configuration, subject and the
    /// affiliations (those not in `affiliations` are removed). A crash leaves the room as it
    /// was before or after, never half saved.
    pub async fn save_room(&self, room: &RoomRow, affiliations: &[AffiliationRow]) -> Result<(), StorageError> {
        const ROOM: &str = "INSERT INTO muc_room (jid, config, subject, subject_by, created_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jid) DO UPDATE SET config = excluded.config, \
            subject = excluded.subject, subject_by = excluded.subject_by";
        const CLEAR: &str = "DELETE FROM muc_affiliation WHERE room = $1";
        const AFFILIATION: &str =
            "INSERT INTO muc_affiliation (room, jid, affiliation, nick, reason) VALUES ($1, $2, $3, $4, $5)";
        let now = crate::now_ms();
        on_pool!(write: self.db, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(ROOM)
                .bind(&room.jid)
                .bind(&room.config)
                .bind(&room.subject)
                .bind(&room.subject_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(CLEAR).bind(&room.jid).execute(&mut *tx).await?;
            for a in affiliations {
                sqlx::query(AFFILIATION)
                    .bind(&room.jid)
                    .bind(&a.jid)
                    .bind(a.affiliation.as_str())
                    .bind(&a.nick)
                    .bind(&a.reason)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    pub async fn set_subject(&self, jid: &str, subject: &str, by: &str) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE muc_room SET subject = $2, subject_by = $3 WHERE jid = $1";
        on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(jid)
            .bind(subject)
            .bind(by)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes a room with its affiliations and push registrations; `false` if there was none.
    pub async fn delete(&self, jid: &str) -> Result<bool, StorageError> {
        const PUSH: &str = "DELETE FROM muc_push WHERE room = $1";
        on_pool!(write: self.db, |p| sqlx::query(PUSH).bind(jid).execute(p).await.map(|r| r.rows_affected()))?;
        const SQL: &str = "DELETE FROM muc_room WHERE jid = $1";
        let done =
            on_pool!(write: self.db, |p| sqlx::query(SQL).bind(jid).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    pub async fn pushes(&self, room: &str) -> Result<Vec<RoomPushRow>, StorageError> {
        const SQL: &str = "SELECT token, service, occupant_id, nick FROM muc_push WHERE room = $1 ORDER BY created_at";
        let rows: Vec<(String, String, String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(room).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|(token, service, occupant_id, nick)| RoomPushRow { token, service, occupant_id, nick })
            .collect())
    }

    /// Adds or replaces the registration with this token.
    pub async fn add_push(&self, room: &str, row: &RoomPushRow) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO muc_push (room, token, service, occupant_id, nick, created_at)             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room, token) DO UPDATE SET service = excluded.service,             occupant_id = excluded.occupant_id, nick = excluded.nick";
        let now = crate::now_ms();
        on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(room)
            .bind(&row.token)
            .bind(&row.service)
            .bind(&row.occupant_id)
            .bind(&row.nick)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Removes a registration; `false` if there was none with this token.
    pub async fn remove_push(&self, room: &str, token: &str) -> Result<bool, StorageError> {
        const SQL: &str = "DELETE FROM muc_push WHERE room = $1 AND token = $2";
        let done = on_pool!(write: self.db, |p| sqlx::query(SQL).bind(room).bind(token).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Follows a registrant's nickname (mentions are recognised by it).
    pub async fn rename_push(&self, room: &str, occupant_id: &str, nick: &str) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE muc_push SET nick = $3 WHERE room = $1 AND occupant_id = $2";
        on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(room)
            .bind(occupant_id)
            .bind(nick)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn affiliations(&self, room: &str) -> Result<Vec<AffiliationRow>, StorageError> {
        const SQL: &str = "SELECT jid, affiliation, nick, reason FROM muc_affiliation WHERE room = $1 ORDER BY jid";
        let rows: Vec<(String, String, String, String)> =
            on_pool!(self.db, |p| sqlx::query_as(SQL).bind(room).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(jid, affiliation, nick, reason)| {
                Ok(AffiliationRow { jid, affiliation: affiliation.parse()?, nick, reason })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affiliation(jid: &str, affiliation: RoomAffiliation) -> AffiliationRow {
        AffiliationRow { jid: jid.into(), affiliation, nick: String::new(), reason: String::new() }
    }

    #[tokio::test]
    async fn a_saved_room_is_read_back_whole_and_affiliations_are_replaced() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let muc = db.muc();
        let room = RoomRow { jid: "r@muc.x".into(), config: "{}".into(), subject: "Hi".into(), subject_by: "a".into() };
        let (owner, member) = (affiliation("a@x", RoomAffiliation::Owner), affiliation("b@x", RoomAffiliation::Member));
        muc.save_room(&room, &[owner.clone(), member]).await.unwrap();
        assert_eq!(muc.room("r@muc.x").await.unwrap(), Some(room.clone()));
        let changed = RoomRow { subject: "Later".into(), ..room };
        muc.save_room(&changed, std::slice::from_ref(&owner)).await.unwrap();
        assert_eq!(muc.room("r@muc.x").await.unwrap(), Some(changed));
        assert_eq!(muc.affiliations("r@muc.x").await.unwrap(), [owner]);
    }

    /// An affiliation that does not read may be a ban: it is a corrupt row, never `none`.
    #[tokio::test]
    async fn an_unknown_affiliation_is_a_corrupt_row() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let room =
            RoomRow { jid: "r@muc.x".into(), config: "{}".into(), subject: String::new(), subject_by: String::new() };
        db.muc().save_room(&room, &[]).await.unwrap();
        const SQL: &str =
            "INSERT INTO muc_affiliation (room, jid, affiliation, nick, reason) VALUES ($1, $2, $3, '', '')";
        on_pool!(write: db, |p| sqlx::query(SQL).bind("r@muc.x").bind("e@x").bind("banned").execute(p).await.map(drop))
            .unwrap();
        assert!(matches!(db.muc().affiliations("r@muc.x").await, Err(StorageError::Corrupt(_))));
    }
}
