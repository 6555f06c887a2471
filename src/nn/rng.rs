//! Portable seeded random numbers.
//!
//! Every random draw in distgan (initial weights, noise, dropout masks,
//! minibatch order) comes from a [`Rng`] opened on a [`StreamKey`]. A key
//! names where the numbers are used (seed, step, phase, micro-batch,
//! purpose), so any worker that computes a micro-batch draws exactly the
//! numbers any other worker would, on every platform and thread count.
//!
//! The generator is xoshiro256++ (Blackman and Vigna, 2019), seeded by
//! running SplitMix64 over the key's fields. Both use only wrapping integer
//! arithmetic, so the stream is defined bit for bit.

/// What a random stream is used for. Part of a [`StreamKey`], so two
/// purposes in the same micro-batch never share numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Initial values of G's parameters.
    InitGenerator,
    /// Initial values of D's parameters.
    InitDiscriminator,
    /// The order of training examples within an epoch.
    Shuffle,
    /// The generator's input noise z.
    Noise,
    /// D's dropout masks on the real-data pass.
    DropoutReal,
    /// D's dropout masks on the generated-data pass.
    DropoutFake,
    /// A fixed z used for the sample grids written during training.
    SampleNoise,
    /// Anything evaluation draws (Parzen samples, interpolation ends).
    Eval,
}

impl Purpose {
    fn code(self) -> u64 {
        match self {
            Purpose::InitGenerator => 1,
            Purpose::InitDiscriminator => 2,
            Purpose::Shuffle => 3,
            Purpose::Noise => 4,
            Purpose::DropoutReal => 5,
            Purpose::DropoutFake => 6,
            Purpose::SampleNoise => 7,
            Purpose::Eval => 8,
        }
    }
}

/// The name of one random stream: the run's seed and where in the run the
/// numbers are used. `phase` is the numeric code of the training phase
/// (see `nn::Phase::code`); fields that do not apply are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub seed: u64,
    pub step: u64,
    pub phase: u32,
    pub micro_batch: u32,
    pub purpose: Purpose,
}

impl StreamKey {
    /// A key for draws outside the step loop (initialisation, evaluation).
    pub fn global(seed: u64, purpose: Purpose) -> Self {
        StreamKey { seed, step: 0, phase: 0, micro_batch: 0, purpose }
    }
}

/// SplitMix64's finaliser (Steele, Lea and Flood, 2014).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ seeded from a [`StreamKey`].
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Opens the stream named by `key`.
    pub fn new(key: StreamKey) -> Self {
        // Fold every field into one SplitMix64 state, mixing after each so
        // that keys differing in any one field give unrelated streams.
        let mut state = 0u64;
        for field in [
            key.seed,
            key.step,
            u64::from(key.phase),
            u64::from(key.micro_batch),
            key.purpose.code(),
        ] {
            state ^= field;
            state = splitmix64(&mut state);
        }
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = splitmix64(&mut state);
        }
        Rng { s }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Returns a uniform f32 in [0, 1) with 24 random mantissa bits.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Returns a uniform f64 in [0, 1) with 53 random mantissa bits.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Returns a uniform f32 in [low, high).
    pub fn uniform_range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.uniform_f32()
    }

    /// Returns a standard normal f32 (Box-Muller in f64; one draw per call
    /// so the stream position does not depend on call parity).
    pub fn normal_f32(&mut self) -> f32 {
        let u1 = 1.0 - self.uniform_f64(); // in (0, 1], so ln is finite
        let u2 = self.uniform_f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Returns a uniform integer in [0, n) by Lemire's multiply-shift with
    /// rejection, so no value is favoured. `n` must be at least 1.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "Rng::below needs n >= 1");
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(step: u64) -> StreamKey {
        StreamKey { seed: 7, step, phase: 1, micro_batch: 2, purpose: Purpose::Noise }
    }

    #[test]
    fn stream_is_reproducible() {
        let a: Vec<u64> = (0..5).map({ let mut r = Rng::new(key(3)); move |_| r.next_u64() }).collect();
        let b: Vec<u64> = (0..5).map({ let mut r = Rng::new(key(3)); move |_| r.next_u64() }).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn golden_first_value_is_stable() {
        // Pinned so a change to the generator or the key folding, which
        // would silently change every run's numbers, fails here.
        let mut rng = Rng::new(StreamKey::global(0, Purpose::Noise));
        let first = rng.next_u64();
        // The same value came from a separate plain-Python implementation
        // of the SplitMix64 key folding and xoshiro256++ above.
        assert_eq!(first, 0x2bda_e2e6_4a12_a7f1);
        assert_ne!(first, Rng::new(StreamKey::global(0, Purpose::Shuffle)).next_u64());
    }

    #[test]
    fn different_fields_give_different_streams() {
        let base = Rng::new(key(3)).next_u64();
        assert_ne!(base, Rng::new(key(4)).next_u64());
        assert_ne!(base, Rng::new(StreamKey { micro_batch: 3, ..key(3) }).next_u64());
        assert_ne!(base, Rng::new(StreamKey { phase: 2, ..key(3) }).next_u64());
        assert_ne!(base, Rng::new(StreamKey { purpose: Purpose::DropoutReal, ..key(3) }).next_u64());
    }

    #[test]
    fn uniform_moments_are_right() {
        let mut rng = Rng::new(key(0));
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| f64::from(rng.uniform_f32())).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "variance {var}");
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn normal_moments_are_right() {
        let mut rng = Rng::new(key(1));
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| f64::from(rng.normal_f32())).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut items: Vec<u32> = (0..1000).collect();
        Rng::new(key(2)).shuffle(&mut items);
        assert_ne!(items, (0..1000).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..1000).collect::<Vec<_>>());
    }
}
