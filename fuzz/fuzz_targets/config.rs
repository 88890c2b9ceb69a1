//! The configuration loader (`server::Config::load`): the built-in defaults, then a `--config`
//! TOML file, then the environment, extracted into the settings structs and validated. The file
//! is operator input, but a typo or a truncated file must be a one-line error naming the setting,
//! never a panic or a silently wrong setting.
//!
//! Input: the text of the `--config` file. It is written to a file of this process's own and
//! loaded through the real entry point, so the path the binary takes is the path fuzzed.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static PATH: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("wijkhub-fuzz-config-{}.toml", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    // figment reads the file as UTF-8; other bytes are a read error before any parsing.
    if std::str::from_utf8(data).is_err() {
        return;
    }
    if let Err(error) = std::fs::write(&*PATH, data) {
        panic!("cannot write {}: {error}", PATH.display());
    }
    match server::Config::load(Some(PATH.as_path())) {
        Ok(config) => {
            std::hint::black_box(format!("{config:?}"));
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "errors are one line: {message:?}");
            std::hint::black_box(message);
        }
    }
});
