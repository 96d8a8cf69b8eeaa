//! Specifications written as conversations: each file in `transcripts/` is played against a
//! real server over real sockets by [`crate::transcript::play`] (the format is described there).
//! The files are read when the tests run: editing one needs no rebuild.

/// One test per transcript file, and the list of them.
macro_rules! transcripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                crate::transcript::play(stringify!($name)).await;
            }
        )*
        const ALL: &[&str] = &[$(stringify!($name)),*];
    };
}

transcripts! {
    blocking_command,
    carbons,
    mam_one_message,
    muc_create_and_join,
    private_xml_storage,
    roster_get_set_push_and_remove,
    server_queries,
    subscription_handshake_then_presence,
}

/// A transcript file that is not in the list above would never run.
#[test]
fn every_transcript_file_is_played() {
    let mut files: Vec<String> = std::fs::read_dir(crate::transcript::DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".xmpp").map(str::to_owned))
        .collect();
    files.sort();
    let mut listed: Vec<&str> = ALL.to_vec();
    listed.sort_unstable();
    assert_eq!(files, listed, "every tests/it/transcripts/*.xmpp is listed in transcripts! and exists");
}
