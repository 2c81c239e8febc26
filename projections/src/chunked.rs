//! A vector that grows by fixed-size chunks: what the read model keeps one of for every
//! contact, child and adult ever received.
//!
//! A `Vec` (or a hash map holding the values themselves) doubles its buffer as it grows, and
//! copies every element into the new one: at the moment it does, both buffers are allocated, so
//! the process's peak memory is up to three times what the elements need, and the copy itself
//! is the fold's work. Here the elements never move: a full chunk stays where it is and a new
//! one is allocated, so at most one chunk is unused and growth copies nothing. Nothing in a
//! maintained crate does just this (`segvec` and `stable-vec` grow their segments or keep
//! holes), and it takes fewer lines than wrapping one.

use std::ops::{Index, IndexMut};

/// Elements per chunk: large enough that the list of chunks is short, small enough that the
/// unused tail of the last chunk is a few hundred kilobytes at most.
const CHUNK: usize = 4096;

#[derive(Debug, Clone)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// The elements in the order pushed.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T: serde::Serialize> serde::Serialize for Chunked<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Chunked<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Elements<T> {
            type Value = Chunked<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Chunked<T>, A::Error> {
                // Pushed one by one, so the chunks are allocated as the elements come, whatever
                // length the input claims.
                let mut out = Chunked::default();
                while let Some(value) = seq.next_element()? {
                    out.push(value);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(Elements(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_keep_their_index_across_chunks() {
        let mut v = Chunked::default();
        let n = CHUNK * 2 + 3;
        for i in 0..n {
            v.push(i);
        }
        assert_eq!(v.len(), n);
        assert_eq!(v[CHUNK - 1], CHUNK - 1);
        assert_eq!(v[CHUNK], CHUNK);
        assert_eq!(v[n - 1], n - 1);
        v[CHUNK + 1] = 7;
        assert!(v.iter().copied().eq((0..n).map(|i| if i == CHUNK + 1 { 7 } else { i })));
        assert_eq!(v.chunks.len(), 3, "a new chunk only when the last is full");
        assert!(v.chunks.iter().all(|c| c.capacity() == CHUNK), "no chunk ever grows");
    }
}
