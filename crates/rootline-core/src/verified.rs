//! `Verified<T>`: success as a type.
//!
//! A value of `Verified<T>` says that the evidence behind `T` passed every
//! check its verifier knows. Evidence crates construct it only at the end of a
//! successful verification, through [`Verified::new`], whose name is meant to
//! stand out in review; everything downstream (appraisal, key release) takes a
//! `Verified<T>` and cannot be handed unchecked claims by accident.

/// Claims that passed verification.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    inner: T,
}

impl<T> Verified<T> {
    /// Marks `inner` as verified. Call this only at the end of a verifier,
    /// after every signature, chain, freshness and replay check has passed.
    pub fn new(inner: T) -> Self {
        Self { inner }
    }

    /// The verified value.
    pub fn get(&self) -> &T {
        &self.inner
    }

    /// Unwraps the verified value (for serialisation).
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Transforms the verified value while keeping the marker.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Verified<U> {
        Verified {
            inner: f(self.inner),
        }
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}
