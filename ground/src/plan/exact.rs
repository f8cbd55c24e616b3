//! The exact optimum of small instances, as an integer program, to measure
//! how far the greedy plan is from it.
//!
//! Maximum coverage with budgets:
//!
//! ```text
//! maximise   Σ_i v_i y_i
//! subject to y_i ≤ Σ_{c sees i} x_c        for every cell i
//!            Σ_{c in pool p} cost_c x_c ≤ B_p   for every pool p
//!            x_c ∈ {0, 1},  0 ≤ y_i ≤ 1
//! ```
//!
//! solved by branch and bound with `microlp` (pure Rust, no solver to
//! install). Cell variables need not be integer: with `x` integral, each
//! `y_i` is 1 exactly when some chosen candidate sees cell `i`. Exponential
//! in the worst case: for tests and small events, not for the Seine.

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use super::objective::Instance;

/// The optimum of a small instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimum {
    /// Chosen candidates.
    pub chosen: Vec<usize>,
    /// Their worth.
    pub value: f64,
}

/// Solves the instance exactly; `Err` with the solver's message when it
/// could not.
pub fn solve(inst: &Instance) -> Result<Optimum, String> {
    // Values scaled to at most 1 keep the coefficients in the solver's range.
    let scale = inst.value.iter().copied().fold(0.0, f64::max).max(1e-12);
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    let x: Vec<_> = (0..inst.len())
        .map(|_| problem.add_binary_var(0.0))
        .collect();
    let mut seers: Vec<Vec<usize>> = vec![Vec::new(); inst.value.len()];
    for (c, set) in inst.sets.iter().enumerate() {
        for &i in set {
            seers[i as usize].push(c);
        }
    }
    for (i, who) in seers.iter().enumerate() {
        if who.is_empty() || inst.value[i] <= 0.0 {
            continue;
        }
        let y = problem.add_var(inst.value[i] / scale, (0.0, 1.0));
        let mut row = vec![(y, 1.0)];
        row.extend(who.iter().map(|&c| (x[c], -1.0)));
        problem.add_constraint(row.as_slice(), ComparisonOp::Le, 0.0);
    }
    for (p, &budget) in inst.budget.iter().enumerate() {
        let row: Vec<_> = (0..inst.len())
            .filter(|&c| inst.pool[c] == p)
            .map(|c| (x[c], f64::from(inst.cost[c])))
            .collect();
        if !row.is_empty() {
            problem.add_constraint(row.as_slice(), ComparisonOp::Le, f64::from(budget));
        }
    }
    let solution = problem
        .solve()
        .map_err(|e| e.to_string())?
        .into_solution()
        .map_err(|_| "the solver stopped before it found a solution".to_string())?;
    let chosen: Vec<usize> = (0..inst.len())
        .filter(|&c| solution.var_value(x[c]).round() >= 1.0)
        .collect();
    Ok(Optimum {
        value: inst.worth(&chosen),
        chosen,
    })
}

#[cfg(test)]
mod tests {
    use super::super::greedy;
    use super::super::greedy::tests::random_instance;
    use super::*;

    /// Brute force over every subset: the oracle for the oracle.
    fn brute(inst: &Instance) -> f64 {
        let n = inst.len();
        (0u32..1 << n)
            .map(|mask| (0..n).filter(|c| mask & (1 << c) != 0).collect::<Vec<_>>())
            .filter(|s| inst.feasible(s))
            .map(|s| inst.worth(&s))
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_integer_program_finds_the_brute_force_optimum() {
        for seed in 0..8 {
            let inst = random_instance(seed, 12, 40, 2, [3, 3]);
            let opt = solve(&inst).unwrap();
            assert!(inst.feasible(&opt.chosen));
            assert!((opt.value - brute(&inst)).abs() < 1e-6, "seed {seed}");
        }
    }

    #[test]
    fn greedy_with_swaps_reaches_95_percent_of_the_optimum() {
        let mut worst: f64 = 1.0;
        let mut sum = 0.0;
        let runs = 30;
        for seed in 0..runs {
            let inst = random_instance(100 + seed, 40, 160, 3, [6, 8]);
            let opt = solve(&inst).unwrap();
            let got = greedy::solve(&inst, seed, 10);
            assert!(got.value <= opt.value + 1e-6);
            assert!(
                got.upper_bound + 1e-6 >= opt.value,
                "the a posteriori bound holds"
            );
            let ratio = got.value / opt.value;
            worst = worst.min(ratio);
            sum += ratio;
        }
        eprintln!(
            "greedy+swaps / optimum over {runs} instances: worst {worst:.4}, mean {:.4}",
            sum / runs as f64
        );
        assert!(worst >= 0.95, "worst ratio {worst}");
    }
}
