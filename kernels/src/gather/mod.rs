//! Embedding look-up: copy rows of a table, chosen by id, into a matrix.

use crate::Kernels;

impl Kernels {
    /// `out[i] = table[ids[i]]`, rows `row_len` long. Ids must be below the table's row count.
    pub fn gather_rows(&self, table: &[f32], row_len: usize, ids: &[u32], out: &mut [f32]) {
        assert!(
            row_len > 0 && table.len().is_multiple_of(row_len),
            "table is not whole rows"
        );
        assert_eq!(
            out.len(),
            ids.len() * row_len,
            "output is not one row per id"
        );
        let rows = table.len() / row_len;
        for (dst, &id) in out.chunks_exact_mut(row_len).zip(ids) {
            let id = id as usize;
            assert!(id < rows, "id {id} is outside a table of {rows} rows");
            dst.copy_from_slice(&table[id * row_len..(id + 1) * row_len]);
        }
    }

    /// `out[i] += table[ids[i]]`: adds position or token-type embeddings onto gathered words.
    pub fn gather_add_rows(&self, table: &[f32], row_len: usize, ids: &[u32], out: &mut [f32]) {
        assert!(
            row_len > 0 && table.len().is_multiple_of(row_len),
            "table is not whole rows"
        );
        assert_eq!(
            out.len(),
            ids.len() * row_len,
            "output is not one row per id"
        );
        let rows = table.len() / row_len;
        for (dst, &id) in out.chunks_exact_mut(row_len).zip(ids) {
            let id = id as usize;
            assert!(id < rows, "id {id} is outside a table of {rows} rows");
            let src = &table[id * row_len..(id + 1) * row_len];
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
        }
    }
}
