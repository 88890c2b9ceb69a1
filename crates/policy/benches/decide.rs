//! Cost of one `decide` call. Placeholder until the fixture lands.
fn main() {}
