//! Byte offsets (as solc reports them) to character offsets, lines and
//! columns.

use serde::{Deserialize, Serialize};

/// A place in a source text: a character offset from the start of the file
/// (0-based), and the 1-based line and column, counted in characters
/// (Unicode scalar values), so multi-byte text before it does not move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Characters before this place.
    pub offset: usize,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// A source file's text with an index of its line starts.
#[derive(Debug, Clone, Default)]
pub struct SourceText {
    text: String,
    /// Byte offset of each line's first byte.
    line_starts: Vec<usize>,
    /// Character offset of each line's first character.
    line_chars: Vec<usize>,
}

impl SourceText {
    /// Indexes `text`.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut line_chars = Vec::with_capacity(line_starts.len());
        let mut chars = 0;
        let mut last = 0;
        for &start in &line_starts {
            chars += text[last..start].chars().count();
            line_chars.push(chars);
            last = start;
        }
        SourceText { text, line_starts, line_chars }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The place of byte offset `byte`; an offset past the end, or inside
    /// a character, is moved back to the nearest character boundary.
    pub fn position(&self, byte: usize) -> Position {
        let byte = self.boundary(byte);
        let line = self.line_starts.partition_point(|&s| s <= byte).max(1);
        let start = self.line_starts[line - 1];
        let column = self.text[start..byte].chars().count() + 1;
        let offset = self.line_chars[line - 1] + column - 1;
        Position { offset, line, column }
    }

    /// `byte` clamped to the text and moved back to a character boundary.
    fn boundary(&self, byte: usize) -> usize {
        let mut byte = byte.min(self.text.len());
        while !self.text.is_char_boundary(byte) {
            byte -= 1;
        }
        byte
    }

    /// The text of line `line` (1-based) without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else { return "" };
        let end = self.line_starts.get(line).map_or(self.text.len(), |&e| e - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// The text between two byte offsets, clamped to the text and its
    /// character boundaries.
    pub fn slice(&self, start: usize, end: usize) -> &str {
        &self.text[self.boundary(start)..self.boundary(end.max(start))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_not_bytes() {
        let src = SourceText::new("ab\n// 中文\nx = 1;\n");
        let x = "ab\n// 中文\n".len();
        assert_eq!(src.position(x), Position { offset: 9, line: 3, column: 1 });
        let after_chinese = "ab\n// 中文".len();
        assert_eq!(src.position(after_chinese), Position { offset: 8, line: 2, column: 6 });
        // Inside a character: moved back to its start.
        assert_eq!(src.position("ab\n// ".len() + 1).column, 4);
        assert_eq!(src.position(10_000).offset, src.text().chars().count());
        assert_eq!(src.line_text(2), "// 中文");
        assert_eq!(src.line_text(9), "");
        assert_eq!(src.slice("ab\n// ".len(), after_chinese), "中文");
    }
}
