use regex::Regex;
use std::time::Instant;
fn main() {
    let text = std::fs::read_to_string("/tmp/policy4k.txt").unwrap();
    let pats: Vec<(&str, String)> = std::env::args().skip(1).map(|a| ("arg", a)).collect();
    for (_, p) in pats {
        let re = Regex::new(&p).unwrap();
        let n = re.find_iter(&text).count();
        let t = Instant::now();
        for _ in 0..2000 {
            std::hint::black_box(re.find_iter(std::hint::black_box(&text)).count());
        }
        println!(
            "{:>8.2} µs  {n:>4} matches  {}",
            t.elapsed().as_secs_f64() * 1e6 / 2000.0,
            &p[..p.len().min(90)]
        );
    }
}
