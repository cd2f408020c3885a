//! AdamW with one fused, in-place pass per parameter tensor.
//!
//! candle-nn's `AdamW` spells the update as about ten tensor ops per parameter, each allocating
//! a new tensor (then three `Var::set` copies): on a 5 M-parameter U-Net that is as slow as
//! the whole forward pass. Here the moments live in plain buffers and the update runs in place
//! on the parameter storage, in parallel chunks. Same formula and defaults as candle-nn's
//! (= PyTorch's `AdamW`, decoupled weight decay); non-f32 or non-CPU parameters fall back to
//! candle-nn's tensor-op formula.

use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Var};
pub use candle_nn::ParamsAdamW;
use candle_nn::optim::Optimizer;
use rayon::prelude::*;

use crate::error::Nn3dError;

/// Elements per parallel chunk of the update.
const CHUNK: usize = 1 << 15;

#[derive(Debug)]
enum Moments {
    /// Interleaved (m, v) per element, for f32 CPU parameters.
    Fused(Mutex<Vec<f32>>),
    /// candle tensors (fallback path).
    Tensors(Var, Var),
}

#[derive(Debug)]
struct Slot {
    var: Var,
    moments: Moments,
}

/// Fused AdamW; implements candle-nn's [`Optimizer`] (so `set_learning_rate` works for
/// schedules).
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    step_t: usize,
    params: ParamsAdamW,
}

/// The per-step scalars, all f32 (the parameter type).
#[derive(Debug, Clone, Copy)]
struct Scalars {
    beta1: f32,
    beta2: f32,
    scale_m: f32,
    scale_v: f32,
    lr: f32,
    decay: f32,
    eps: f32,
}

struct FusedStep<'a> {
    mv: &'a Mutex<Vec<f32>>,
    s: Scalars,
}

impl InplaceOp2 for FusedStep<'_> {
    fn name(&self) -> &'static str {
        "adamw-fused"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let bad = |msg: &str| -> candle_core::Error {
            Nn3dError::Config {
                what: "adamw",
                msg: msg.into(),
            }
            .into()
        };
        let (t0, t1) = l1
            .contiguous_offsets()
            .ok_or_else(|| bad("parameter not contiguous"))?;
        let (g0, g1) = l2
            .contiguous_offsets()
            .ok_or_else(|| bad("gradient not contiguous"))?;
        let (CpuStorage::F32(theta), CpuStorage::F32(grad)) = (s1, s2) else {
            return Err(bad("parameter and gradient must be f32"));
        };
        let theta = theta
            .get_mut(t0..t1)
            .ok_or_else(|| bad("parameter layout out of range"))?;
        let grad = grad
            .get(g0..g1)
            .ok_or_else(|| bad("gradient layout out of range"))?;
        let mut mv = self.mv.lock().map_err(|_| bad("poisoned state"))?;
        if grad.len() != theta.len() || mv.len() != 2 * theta.len() {
            return Err(bad("parameter, gradient and state sizes differ"));
        }
        let s = self.s;
        let update = |(th, (g, mv)): (&mut [f32], (&[f32], &mut [f32]))| {
            for ((t, &g), st) in th.iter_mut().zip(g).zip(mv.chunks_exact_mut(2)) {
                let m = st[0] * s.beta1 + g * (1.0 - s.beta1);
                let v = st[1] * s.beta2 + g * g * (1.0 - s.beta2);
                st[0] = m;
                st[1] = v;
                let step = (m * s.scale_m) / ((v * s.scale_v).sqrt() + s.eps);
                *t = *t * s.decay - step * s.lr;
            }
        };
        if theta.len() >= 2 * CHUNK {
            theta
                .par_chunks_mut(CHUNK)
                .zip(grad.par_chunks(CHUNK).zip(mv.par_chunks_mut(2 * CHUNK)))
                .for_each(update);
        } else {
            update((theta, (grad, &mut mv[..])));
        }
        Ok(())
    }
}

impl Optimizer for AdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let slots = vars
            .into_iter()
            .filter(|v| v.dtype().is_float())
            .map(|var| {
                let moments = if var.dtype() == DType::F32 && var.device().is_cpu() {
                    Moments::Fused(Mutex::new(vec![0f32; 2 * var.elem_count()]))
                } else {
                    Moments::Tensors(
                        Var::zeros(var.shape(), var.dtype(), var.device())?,
                        Var::zeros(var.shape(), var.dtype(), var.device())?,
                    )
                };
                Ok(Slot { var, moments })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            step_t: 0,
            params,
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        let t = self.step_t.min(i32::MAX as usize) as i32;
        let scale_m = 1.0 / (1.0 - p.beta1.powi(t));
        let scale_v = 1.0 / (1.0 - p.beta2.powi(t));
        let s = Scalars {
            beta1: p.beta1 as f32,
            beta2: p.beta2 as f32,
            scale_m: scale_m as f32,
            scale_v: scale_v as f32,
            lr: p.lr as f32,
            decay: (1.0 - p.lr * p.weight_decay) as f32,
            eps: p.eps as f32,
        };
        for slot in &self.slots {
            let theta = &slot.var;
            let Some(g) = grads.get(theta) else { continue };
            match &slot.moments {
                Moments::Fused(mv) => {
                    let g = g.contiguous()?;
                    theta.as_tensor().inplace_op2(&g, &FusedStep { mv, s })?;
                }
                Moments::Tensors(m, v) => {
                    let next_m = ((m.as_tensor() * p.beta1)? + (g * (1.0 - p.beta1))?)?;
                    let next_v = ((v.as_tensor() * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
                    let adj = ((&next_m * scale_m)? / ((&next_v * scale_v)?.sqrt()? + p.eps)?)?;
                    let next =
                        ((theta.as_tensor() * (1.0 - p.lr * p.weight_decay))? - (adj * p.lr)?)?;
                    m.set(&next_m)?;
                    v.set(&next_v)?;
                    theta.set(&next)?;
                }
            }
        }
        Ok(())
    }
}

impl AdamW {
    /// AdamW with the given hyper-parameters over `vars`.
    pub fn new_adamw(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        <Self as Optimizer>::new(vars, params)
    }

    pub fn params(&self) -> &ParamsAdamW {
        &self.params
    }

    /// Steps taken so far (the bias correction's `t`).
    pub fn step_count(&self) -> usize {
        self.step_t
    }

    /// Each parameter's moments, interleaved (m, v) per element, in the order of the variables
    /// given at construction: with [`AdamW::step_count`] all a resumed run needs.
    pub fn moments(&self) -> Result<Vec<Vec<f32>>> {
        self.slots
            .iter()
            .map(|slot| match &slot.moments {
                Moments::Fused(mv) => Ok(mv
                    .lock()
                    .map_err(|_| state_err("poisoned state".into()))?
                    .clone()),
                Moments::Tensors(m, v) => {
                    let m = m.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                    let v = v.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                    Ok(m.iter().zip(&v).flat_map(|(&a, &b)| [a, b]).collect())
                }
            })
            .collect()
    }

    /// Restores what [`AdamW::moments`] and [`AdamW::step_count`] returned (same variables,
    /// same order).
    pub fn set_state(&mut self, step_count: usize, moments: &[Vec<f32>]) -> Result<()> {
        if moments.len() != self.slots.len() {
            return Err(state_err(format!(
                "{} moment buffers for {} parameters",
                moments.len(),
                self.slots.len()
            )));
        }
        for (slot, mv) in self.slots.iter().zip(moments) {
            let n = slot.var.elem_count();
            if mv.len() != 2 * n {
                return Err(state_err(format!(
                    "{} moment values for a parameter of {n} elements",
                    mv.len()
                )));
            }
            match &slot.moments {
                Moments::Fused(cur) => {
                    *cur.lock().map_err(|_| state_err("poisoned state".into()))? = mv.clone();
                }
                Moments::Tensors(m, v) => {
                    let (a, b): (Vec<f32>, Vec<f32>) =
                        mv.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
                    let dev = slot.var.device();
                    let shape = slot.var.shape();
                    m.set(&candle_core::Tensor::from_vec(a, shape, dev)?.to_dtype(m.dtype())?)?;
                    v.set(&candle_core::Tensor::from_vec(b, shape, dev)?.to_dtype(v.dtype())?)?;
                }
            }
        }
        self.step_t = step_count;
        Ok(())
    }
}

fn state_err(msg: String) -> candle_core::Error {
    Nn3dError::Config {
        what: "adamw state",
        msg,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Same trajectory as candle-nn's AdamW (the independent tensor-op formula) over a few
    /// steps of a quadratic loss, including the parallel path (> 2 chunks).
    #[test]
    fn matches_candle_nn_adamw() {
        let dev = Device::Cpu;
        let n = 3 * CHUNK + 17;
        let init = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
        let target = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
        let params = ParamsAdamW {
            lr: 0.05,
            weight_decay: 0.1,
            ..Default::default()
        };
        let a = Var::from_tensor(&init.copy().unwrap()).unwrap();
        let b = Var::from_tensor(&init.copy().unwrap()).unwrap();
        let mut ours = AdamW::new_adamw(vec![a.clone()], params.clone()).unwrap();
        let mut theirs = candle_nn::AdamW::new(vec![b.clone()], params).unwrap();
        for step in 0..5 {
            if step == 3 {
                ours.set_learning_rate(0.01);
                theirs.set_learning_rate(0.01);
            }
            let grad = |v: &Var| {
                (v.as_tensor() - &target)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap()
            };
            ours.step(&grad(&a)).unwrap();
            theirs.step(&grad(&b)).unwrap();
        }
        let d = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "max difference {d}");
    }
}
