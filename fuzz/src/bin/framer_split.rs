//! A stream in two reads, cut where the first byte says: the same frames as in one.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&at, stream)) = data.split_first() else { return };
        let cut = usize::from(at) * stream.len() / 255;
        let limits = rhein_stream::FrameLimits::default();
        let whole = rhein_fuzz::frames(&[stream], limits);
        let split = rhein_fuzz::frames(&[&stream[..cut], &stream[cut..]], limits);
        assert_eq!(split, whole, "cut at {cut}");
    });
}
