//! A BOSH request body (`parse_document`) and a WebSocket message (`parse_element`).
use rhein_stream::{FrameLimits, parse_document, parse_element};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = FrameLimits::default();
        if let Ok((_, children)) = parse_document(data, limits) {
            children.iter().for_each(|el| rhein_fuzz::check_element(el, limits));
        }
        if let Ok(el) = parse_element(data, limits) {
            rhein_fuzz::check_element(&el, limits);
        }
    });
}
