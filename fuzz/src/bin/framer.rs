//! A stream from a peer, in one read, under the default limits.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        rhein_fuzz::frames(&[data], rhein_stream::FrameLimits::default());
    });
}
