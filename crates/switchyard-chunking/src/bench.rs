//! The function `switchyard bench chunking` times: plain text cut the way a long Word
//! section is cut, for comparison with other splitters on the same file.

use crate::text::pack_plain_text;

/// Cuts `text` into fragments of at most `chunk_chars` characters, as the chunker cuts a
/// Word section without heading (paragraphs at blank lines packed whole, longer ones split
/// at line breaks, sentences, then words), and returns how many fragments it made. The
/// fragments are built and dropped one by one, as the chunker does.
///
/// This is the comparison point for LangChain's
/// `RecursiveCharacterTextSplitter(chunk_size=chunk_chars, chunk_overlap=0)`, which also
/// sizes by characters. A `chunk_chars` of 0 counts as 1.
///
/// ```
/// let text = "First paragraph.\n\nSecond paragraph, a little longer.";
/// assert_eq!(switchyard_chunking::chunk_text_bench(text, 1000), 1);
/// assert_eq!(switchyard_chunking::chunk_text_bench(text, 40), 2);
/// ```
pub fn chunk_text_bench(text: &str, chunk_chars: usize) -> usize {
    pack_plain_text(text, chunk_chars.max(1)).count()
}
