//! What the fuzz targets check on every input, beyond "no panic, no hang": each target
//! (`src/bin/`) hands the bytes AFL++ gives it to one of Rhein's parsers of peer input.

use rhein_proto::{Element, xml};
use rhein_stream::{Frame, FrameError, FrameLimits, Framer, parse_element};

/// A frame, comparable.
#[derive(Debug, PartialEq)]
pub enum Got {
    Open(Element),
    Element(Element),
    Close,
    Error(FrameError),
}

/// Frames `chunks` pushed one after the other until the first error, checking each frame:
/// no more bytes than its limit (what the framer consumed for it, less the whitespace
/// before it), and every element within the limits (see [`check_element`]).
pub fn frames(chunks: &[&[u8]], limits: FrameLimits) -> Vec<Got> {
    let mut framer = Framer::new(limits);
    let mut got = Vec::new();
    let mut sent = Vec::new();
    let mut framed_up_to = 0;
    for chunk in chunks {
        framer.push(chunk);
        sent.extend_from_slice(chunk);
        loop {
            let frame = match framer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    got.push(Got::Error(e));
                    return got;
                }
            };
            let pending = framer.take_pending();
            framer.push(&pending);
            let end = sent.len() - pending.len();
            let counted = counted(&sent[framed_up_to..end]);
            framed_up_to = end;
            got.push(match frame {
                Frame::Open(header) => {
                    assert!(counted <= limits.max_header, "a header of {counted} bytes");
                    Got::Open(header)
                }
                Frame::Element(el) => {
                    assert!(counted <= limits.max_element, "a stanza of {counted} bytes");
                    check_element(&el, limits);
                    Got::Element(el)
                }
                Frame::Close => Got::Close,
            });
            assert!(got.len() <= sent.len(), "{} frames out of {} bytes", got.len(), sent.len());
        }
    }
    got
}

/// The bytes of a frame that count towards its limit: not the whitespace before it (nor
/// after an XML declaration).
fn counted(span: &[u8]) -> usize {
    let span = &span[span.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count()..];
    match span.windows(2).position(|w| w == b"?>") {
        Some(end) if span.starts_with(b"<?xml") => end + 2 + counted(&span[end + 2..]),
        _ => span.len(),
    }
}

/// An element handed to the server keeps within the depth and attribute limits, and what
/// the server writes of it reads back as the same element.
pub fn check_element(el: &Element, limits: FrameLimits) {
    assert!(depth(el) <= limits.max_depth, "depth {} > {}", depth(el), limits.max_depth);
    assert!(most_attributes(el) <= limits.max_attributes, "{} attributes", most_attributes(el));
    let wire = xml::to_bytes(el);
    match parse_element(&wire, limits.for_output()) {
        Ok(back) => assert_eq!(&back, el, "written as {}", String::from_utf8_lossy(&wire)),
        Err(e) => panic!("written as {} and refused: {e}", String::from_utf8_lossy(&wire)),
    }
}

fn depth(el: &Element) -> usize {
    1 + el.children().map(depth).max().unwrap_or(0)
}

/// The most attributes on one element of the tree, declarations included.
fn most_attributes(el: &Element) -> usize {
    let own = el.attrs().len() + el.prefixes.declared_prefixes().len();
    el.children().map(most_attributes).fold(own, usize::max)
}
