use distgan::data::{sample_noise, BatchPlan, Dataset, SplitSpec, gather_rows, NoiseKind, mean_image};
use distgan::nn::*;
use distgan::nn::optim::*;
fn main() {
    let ds = Dataset::load(std::path::Path::new("data/mnist"), &SplitSpec::limited(50000, 0, 0)).unwrap();
    let spec = GanSpec::paper_mnist(784);
    let mut g = init_generator(&spec.generator, mean_image(ds.train.view()).view(), 1).unwrap();
    let mut d = init_discriminator(&spec.discriminator, 1).unwrap();
    let kind = OptimizerKind::Momentum;
    let mut gs = init_state(&kind, &g); let mut dsx = init_state(&kind, &d);
    let plan = BatchPlan::new(1, 50000, 100).unwrap();
    let sched = Schedule::default();
    let joint = std::env::args().nth(1).as_deref() == Some("joint");
    let gonly = std::env::args().nth(1).as_deref() == Some("gonly");
    for it in 0..3000u64 {
        let (_, idx) = plan.batch_indices(it);
        let real = gather_rows(ds.train.view(), &idx).unwrap();
        let z = sample_noise(NoiseKind::Uniform, 100, 100, StreamKey{seed:1, step: it*2, phase:1, micro_batch:0, purpose: Purpose::Noise});
        let epoch = it / 500 + 1;
        let hyper = Hyper{ learning_rate: sched.learning_rate(it), momentum: sched.momentum(epoch)};
        if joint {
            let gr = compute_gradients(&spec, &g, &d, &MicroBatch{real: Some(real.view()), z: z.view(), key: MicroBatchKey{seed:1, step: it, phase: Phase::Joint, micro_batch:0}, loss_scale: 0.01}).unwrap();
            apply(&kind, &mut d, &gr.discriminator.unwrap(), &mut dsx, &hyper).unwrap();
            apply(&kind, &mut g, &gr.generator.unwrap(), &mut gs, &hyper).unwrap();
            if it % 250 == 0 { println!("{it} d {:.3} g {:.3} dr {:.3} df {:.3}", gr.stats.d_loss_sum/100., gr.stats.g_loss_sum/100., gr.stats.d_real_sum/100., gr.stats.d_fake_sum/100.); }
            continue;
        }
        let gr = compute_gradients(&spec, &g, &d, &MicroBatch{real: Some(real.view()), z: z.view(), key: MicroBatchKey{seed:1, step: it*2, phase: Phase::Discriminator, micro_batch:0}, loss_scale: 0.01}).unwrap();
        if !(gonly && it >= 600) { apply(&kind, &mut d, &gr.discriminator.unwrap(), &mut dsx, &hyper).unwrap(); }
        if gonly && it >= 600 && it % 20 == 0 { println!("{it} frozen-D g-only: d_fake {:.4}", gr.stats.d_fake_sum/100.); }
        if gonly && it > 800 { break; }
        let z2 = sample_noise(NoiseKind::Uniform, 100, 100, StreamKey{seed:1, step: it*2+1, phase:2, micro_batch:0, purpose: Purpose::Noise});
        let gg = compute_gradients(&spec, &g, &d, &MicroBatch{real: None, z: z2.view(), key: MicroBatchKey{seed:1, step: it*2+1, phase: Phase::Generator, micro_batch:0}, loss_scale: 0.01}).unwrap();
        apply(&kind, &mut g, &gg.generator.unwrap(), &mut gs, &hyper).unwrap();
        if it % 250 == 0 { println!("{it} d {:.3} g {:.3} dr {:.3} df {:.3}", gr.stats.d_loss_sum/100., gg.stats.g_loss_sum/100., gr.stats.d_real_sum/100., gr.stats.d_fake_sum/100.); }
    }
}
