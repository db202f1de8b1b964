//! hakmem as a Rust program's global allocator: `cargo run --release --example global_allocator`.

use std::collections::BTreeMap;

#[global_allocator]
static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;

fn main() {
    // Word counts over a generated text: strings, a map, and threads, all on hakmem's heap.
    let text: String = (0..200_000).map(|i| format!("w{} ", (i * 7919) % 5000)).collect();
    let chunks: Vec<String> = text.split_whitespace().collect::<Vec<_>>().chunks(50_000).map(|c| c.join(" ")).collect();
    let counts = std::thread::scope(|s| {
        let workers: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    let mut m = BTreeMap::new();
                    for w in chunk.split_whitespace() {
                        *m.entry(w.to_string()).or_insert(0u32) += 1;
                    }
                    m
                })
            })
            .collect();
        let mut total = BTreeMap::new();
        for w in workers {
            for (k, v) in w.join().unwrap() {
                *total.entry(k).or_insert(0) += v;
            }
        }
        total
    });
    println!("{} distinct words, {} in all", counts.len(), counts.values().sum::<u32>());
    // SAFETY: the map's first key is a live block of the global allocator, hakmem.
    let usable = unsafe { hakmem::ffi::hak_usable_size(counts.keys().next().unwrap().as_ptr() as *mut _) };
    println!("a key's block: {usable} usable bytes (hakmem's)");
}
