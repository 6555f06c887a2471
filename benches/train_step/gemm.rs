//! The matrix products of one training iteration, listed analytically, and
//! the machine's own sgemm rate on exactly those products.
//!
//! Every layer is `y = x W + b` with `x` of shape `(batch, input)` and `W`
//! of shape `(input, output)`, stored in standard layout. Its three GEMMs
//! are the forward `x W`, the input gradient `dy W^T` and the weight
//! gradient `x^T dy`. The sgemm rate is measured by calling ndarray's `dot`
//! on operands of the same shapes and layouts, with the transposes taken as
//! views as in the backward pass. It is the rate of the same BLAS calls
//! without the element-wise work around them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use distgan::nn::spec::LayerShape;
use distgan::nn::{GanSpec, Purpose, Rng, StreamKey};
use ndarray::Array2;

/// A named linear layer; its GEMMs multiply `(batch, in_dim)` by
/// `(in_dim, out_dim)`.
struct Layer {
    name: String,
    shape: LayerShape,
}

/// Names the affine maps `shapes` as `{prefix}1..` in forward order.
fn named_layers(prefix: &str, shapes: Vec<LayerShape>) -> Vec<Layer> {
    let name = |(i, shape)| Layer {
        name: format!("{prefix}{}", i + 1),
        shape,
    };
    shapes.into_iter().enumerate().map(name).collect()
}

/// The product of a layer that a GEMM computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// `x W`: `(batch, input) x (input, output)`.
    Forward,
    /// `dy W^T`: `(batch, output) x (output, input)`, `W^T` a transposed view.
    InputGrad,
    /// `x^T dy`: `(input, batch) x (batch, output)`, `x^T` a transposed view.
    WeightGrad,
}

impl Pass {
    fn label(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::InputGrad => "dx",
            Pass::WeightGrad => "dW",
        }
    }
}

/// One GEMM shape `(m, k) x (k, n)` that an iteration performs `count` times.
#[derive(Clone, Debug)]
pub struct Gemm {
    /// `"D"` or `"G"`: the step of the iteration it belongs to.
    pub step: &'static str,
    pub layer: String,
    pub pass: Pass,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub count: usize,
}

impl Gemm {
    fn new(step: &'static str, layer: &Layer, pass: Pass, batch: usize, count: usize) -> Self {
        let LayerShape { in_dim, out_dim } = layer.shape;
        let (m, k, n) = match pass {
            Pass::Forward => (batch, in_dim, out_dim),
            Pass::InputGrad => (batch, out_dim, in_dim),
            Pass::WeightGrad => (in_dim, batch, out_dim),
        };
        Gemm {
            step,
            layer: layer.name.clone(),
            pass,
            m,
            k,
            n,
            count,
        }
    }

    /// FLOPs of all `count` calls: `2 m k n` each.
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n * self.count) as f64
    }

    /// Formats a short description such as `D  D1 dW  784x100x1200 x2`.
    pub fn describe(&self) -> String {
        format!(
            "{} {:>4} {:<7} {}x{}x{} x{}",
            self.step,
            self.layer,
            self.pass.label(),
            self.m,
            self.k,
            self.n,
            self.count
        )
    }
}

/// Lists the GEMMs of one iteration of `spec`'s model with k = 1 at batch
/// size `batch`. Layers are named `G1..` and `D1..` in forward order.
///
/// D step: G forward only, then D forward, dW and dx on the real and on the
/// fake pass, except dx of D's first layer, which nothing needs. G step: G
/// and D forward once, dx through every D layer but no D dW, then dW of
/// every G layer and dx of all but G's first layer.
pub fn iteration_gemms(spec: &GanSpec, batch: usize) -> Vec<Gemm> {
    let generator = named_layers("G", spec.generator.layer_shapes());
    let discriminator = named_layers("D", spec.discriminator.layer_shapes());
    let mut gemms = Vec::new();
    let mut add = |step, layer: &Layer, pass, count| {
        gemms.push(Gemm::new(step, layer, pass, batch, count));
    };

    for layer in &generator {
        add("D", layer, Pass::Forward, 1);
    }
    for (i, layer) in discriminator.iter().enumerate() {
        add("D", layer, Pass::Forward, 2);
        add("D", layer, Pass::WeightGrad, 2);
        if i > 0 {
            add("D", layer, Pass::InputGrad, 2);
        }
    }

    for layer in &generator {
        add("G", layer, Pass::Forward, 1);
    }
    for layer in &discriminator {
        add("G", layer, Pass::Forward, 1);
        add("G", layer, Pass::InputGrad, 1);
    }
    for (i, layer) in generator.iter().enumerate() {
        add("G", layer, Pass::WeightGrad, 1);
        if i > 0 {
            add("G", layer, Pass::InputGrad, 1);
        }
    }
    gemms
}

/// Total FLOPs of a GEMM list.
pub fn total_flops(gemms: &[Gemm]) -> f64 {
    gemms.iter().map(Gemm::flops).sum()
}

/// Operands for one [`Gemm`], stored in standard layout so that the
/// transposed forms are views, exactly as the backward pass builds them.
struct Operands {
    pass: Pass,
    count: usize,
    lhs: Array2<f32>,
    rhs: Array2<f32>,
}

impl Operands {
    fn new(gemm: &Gemm, rng: &mut Rng) -> Self {
        let (lhs_shape, rhs_shape) = match gemm.pass {
            Pass::Forward => ((gemm.m, gemm.k), (gemm.k, gemm.n)),
            // dy (batch, output) and W (input, output), multiplied as dy W^T.
            Pass::InputGrad => ((gemm.m, gemm.k), (gemm.n, gemm.k)),
            // x (batch, input) and dy (batch, output), multiplied as x^T dy.
            Pass::WeightGrad => ((gemm.k, gemm.m), (gemm.k, gemm.n)),
        };
        let mut fill = |shape| Array2::from_shape_simple_fn(shape, || rng.uniform_range(-1.0, 1.0));
        Operands {
            pass: gemm.pass,
            count: gemm.count,
            lhs: fill(lhs_shape),
            rhs: fill(rhs_shape),
        }
    }

    /// Runs the product once through ndarray's `dot`, which allocates the
    /// output as the network code does.
    fn multiply(&self) -> Array2<f32> {
        match self.pass {
            Pass::Forward => self.lhs.dot(&self.rhs),
            Pass::InputGrad => self.lhs.dot(&self.rhs.t()),
            Pass::WeightGrad => self.lhs.t().dot(&self.rhs),
        }
    }
}

/// Every GEMM of one iteration with its operands, ready to be timed.
pub struct SgemmMix {
    operands: Vec<Operands>,
}

impl SgemmMix {
    /// Allocates random operands for each GEMM in `gemms`.
    pub fn new(gemms: &[Gemm], seed: u64) -> Self {
        let mut rng = Rng::new(StreamKey::global(seed, Purpose::Eval));
        let operands = gemms
            .iter()
            .map(|gemm| Operands::new(gemm, &mut rng))
            .collect();
        SgemmMix { operands }
    }

    /// Runs every GEMM its `count` times, adds each entry's wall time to
    /// `per_gemm` (same order as the list this mix was built from) and
    /// returns the total.
    pub fn run_once(&self, per_gemm: &mut [Duration]) -> Duration {
        let mut total = Duration::ZERO;
        for (operands, spent) in self.operands.iter().zip(per_gemm.iter_mut()) {
            let start = Instant::now();
            for _ in 0..operands.count {
                black_box(operands.multiply());
            }
            let elapsed = start.elapsed();
            *spent += elapsed;
            total += elapsed;
        }
        total
    }
}
