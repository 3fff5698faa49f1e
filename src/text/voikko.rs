//! Finnish base forms from libvoikko (LGPL-2.1+), loaded at run time with `dlopen`, so the
//! Apache-2.0 binary links nothing of it and runs (with the Snowball fallback) where it is
//! absent. Debian: `libvoikko1` + `voikko-fi`.

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::Mutex;

type Init = unsafe extern "C" fn(*mut *const c_char, *const c_char, *const c_char) -> *mut c_void;
type Analyze = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut *mut c_void;
type Value = unsafe extern "C" fn(*const c_void, *const c_char) -> *mut c_char;
type FreeValue = unsafe extern "C" fn(*mut c_char);
type FreeAnalysis = unsafe extern "C" fn(*mut *mut c_void);
type Version = unsafe extern "C" fn() -> *const c_char;

/// One libvoikko handle with a Finnish dictionary. A handle is not thread-safe: calls are
/// serialised by a mutex (the analyzer caches results, so few calls reach it).
pub struct Voikko {
    handle: Mutex<Handle>,
    analyze: Analyze,
    value: Value,
    free_value: FreeValue,
    free_analysis: FreeAnalysis,
    version: String,
    _lib: libloading::Library,
}

struct Handle(*mut c_void);
// SAFETY: the handle is used only under the mutex, from one thread at a time.
unsafe impl Send for Handle {}

impl Voikko {
    /// Load libvoikko and open its Finnish dictionary; `None` when either is missing.
    pub fn load() -> Option<Voikko> {
        // SAFETY: libvoikko's initialisers have no preconditions; symbols are typed as in
        // libvoikko's voikko.h (4.x).
        unsafe {
            let lib = ["libvoikko.so.1", "libvoikko.1.dylib", "libvoikko-1.dll"].iter().find_map(|n| libloading::Library::new(n).ok())?;
            let init: Init = *lib.get(b"voikkoInit\0").ok()?;
            let analyze: Analyze = *lib.get(b"voikkoAnalyzeWordCstr\0").ok()?;
            let value: Value = *lib.get(b"voikko_mor_analysis_value_cstr\0").ok()?;
            let free_value: FreeValue = *lib.get(b"voikko_free_mor_analysis_value_cstr\0").ok()?;
            let free_analysis: FreeAnalysis = *lib.get(b"voikko_free_mor_analysis\0").ok()?;
            let version: Version = *lib.get(b"voikkoGetVersion\0").ok()?;
            let mut err: *const c_char = std::ptr::null();
            let h = init(&mut err, c"fi".as_ptr(), std::ptr::null());
            if h.is_null() {
                return None;
            }
            let v = version();
            let version = if v.is_null() { "?".into() } else { CStr::from_ptr(v).to_string_lossy().into_owned() };
            Some(Voikko { handle: Mutex::new(Handle(h)), analyze, value, free_value, free_analysis, version, _lib: lib })
        }
    }

    /// libvoikko's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The base forms of a (lower-case) word without repeats, nouns first (`hammasta` is
    /// `hammas`, tooth, before `hammastaa`, to tooth), otherwise in libvoikko's order; empty
    /// when the dictionary does not know the word.
    pub fn base_forms(&self, word: &str) -> Vec<String> {
        let Ok(w) = CString::new(word) else { return Vec::new() };
        let mut nouns: Vec<String> = Vec::new();
        let mut out: Vec<String> = Vec::new();
        let Ok(h) = self.handle.lock() else { return out };
        // SAFETY: `h.0` is a live handle (terminated only in Drop); the analysis list is
        // NULL-terminated and freed once; values are freed with libvoikko's own function.
        unsafe {
            let list = (self.analyze)(h.0, w.as_ptr());
            if list.is_null() {
                return out;
            }
            let mut p = list;
            while !(*p).is_null() {
                let class = (self.value)(*p, c"CLASS".as_ptr());
                let noun = !class.is_null() && CStr::from_ptr(class).to_bytes() == b"nimisana";
                if !class.is_null() {
                    (self.free_value)(class);
                }
                let v = (self.value)(*p, c"BASEFORM".as_ptr());
                if !v.is_null() {
                    let s = CStr::from_ptr(v).to_string_lossy().to_lowercase();
                    (self.free_value)(v);
                    let to = if noun { &mut nouns } else { &mut out };
                    if !s.is_empty() && !to.contains(&s) {
                        to.push(s);
                    }
                }
                p = p.add(1);
            }
            (self.free_analysis)(list);
        }
        out.retain(|s| !nouns.contains(s));
        nouns.extend(out);
        nouns
    }
}

impl Drop for Voikko {
    fn drop(&mut self) {
        if let Ok(lib) = self.handle.lock() {
            // SAFETY: the symbol is looked up in the same, still loaded library.
            unsafe {
                if let Ok(t) = self._lib.get::<unsafe extern "C" fn(*mut c_void)>(b"voikkoTerminate\0") {
                    t(lib.0);
                }
            }
        }
    }
}
