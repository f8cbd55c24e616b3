//! The objective: weighted coverage of the cells fixed cameras miss.
//!
//! A plan is a set of candidates; its worth is the total value of the cells
//! at least one chosen candidate sees. That is a weighted **maximum
//! coverage** function: monotone (more candidates never see less) and
//! submodular (a candidate adds less to a bigger plan), which is what the
//! greedy bound rests on. Each candidate is paid from one asset pool
//! (airframes or patrol teams) and each pool has a budget.

/// A maximum coverage instance with one budget per asset pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Value of each cell.
    pub value: Vec<f64>,
    /// Cells each candidate sees, ascending, no repeats.
    pub sets: Vec<Vec<u32>>,
    /// What each candidate costs from its pool.
    pub cost: Vec<u32>,
    /// Pool of each candidate.
    pub pool: Vec<usize>,
    /// Budget of each pool.
    pub budget: Vec<u32>,
    /// Each candidate's cells' box on the cell grid `[i0, j0, i1, j1]`
    /// (inclusive), to skip candidates that cannot overlap.
    pub boxes: Vec<[u32; 4]>,
}

impl Instance {
    /// An instance; `xy(cell)` gives a cell's grid column and row, used to
    /// box each candidate.
    pub fn new(
        value: Vec<f64>,
        sets: Vec<Vec<u32>>,
        cost: Vec<u32>,
        pool: Vec<usize>,
        budget: Vec<u32>,
        xy: impl Fn(u32) -> (u32, u32),
    ) -> Instance {
        let boxes = sets
            .iter()
            .map(|s| {
                s.iter().fold([u32::MAX, u32::MAX, 0, 0], |b, &c| {
                    let (i, j) = xy(c);
                    [b[0].min(i), b[1].min(j), b[2].max(i), b[3].max(j)]
                })
            })
            .collect();
        Instance {
            value,
            sets,
            cost,
            pool,
            budget,
            boxes,
        }
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether there is no candidate.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Worth of a set of candidates: value of the cells any of them sees.
    pub fn worth(&self, chosen: &[usize]) -> f64 {
        let mut seen = vec![false; self.value.len()];
        let mut total = 0.0;
        for &c in chosen {
            for &i in &self.sets[c] {
                if !std::mem::replace(&mut seen[i as usize], true) {
                    total += self.value[i as usize];
                }
            }
        }
        total
    }

    /// Whether a set of candidates keeps within every budget, each at most
    /// once.
    pub fn feasible(&self, chosen: &[usize]) -> bool {
        let mut used = vec![0u64; self.budget.len()];
        let mut once = std::collections::HashSet::new();
        for &c in chosen {
            if c >= self.len() || !once.insert(c) {
                return false;
            }
            used[self.pool[c]] += u64::from(self.cost[c]);
        }
        used.iter()
            .zip(&self.budget)
            .all(|(u, b)| *u <= u64::from(*b))
    }

    /// Whether the boxes of two candidates overlap.
    #[inline]
    pub fn may_overlap(&self, a: usize, b: usize) -> bool {
        let (p, q) = (&self.boxes[a], &self.boxes[b]);
        p[0] <= q[2] && q[0] <= p[2] && p[1] <= q[3] && q[1] <= p[3]
    }
}

/// A plan being built: which candidates, and how many of them see each
/// cell.
#[derive(Debug, Clone)]
pub struct State<'a> {
    /// The instance.
    pub inst: &'a Instance,
    /// Chosen candidates, in the order chosen.
    pub chosen: Vec<usize>,
    /// Whether each candidate is chosen.
    pub is_chosen: Vec<bool>,
    /// How many chosen candidates see each cell.
    pub count: Vec<u32>,
    /// What each pool has spent.
    pub used: Vec<u32>,
    /// Worth of the plan.
    pub total: f64,
}

impl<'a> State<'a> {
    /// The empty plan.
    pub fn new(inst: &'a Instance) -> State<'a> {
        State {
            inst,
            chosen: Vec::new(),
            is_chosen: vec![false; inst.len()],
            count: vec![0; inst.value.len()],
            used: vec![0; inst.budget.len()],
            total: 0.0,
        }
    }

    /// What adding `c` would add.
    #[inline]
    pub fn gain(&self, c: usize) -> f64 {
        self.inst.sets[c]
            .iter()
            .filter(|&&i| self.count[i as usize] == 0)
            .map(|&i| self.inst.value[i as usize])
            .sum()
    }

    /// What removing chosen `c` would lose.
    pub fn loss(&self, c: usize) -> f64 {
        self.inst.sets[c]
            .iter()
            .filter(|&&i| self.count[i as usize] == 1)
            .map(|&i| self.inst.value[i as usize])
            .sum()
    }

    /// Budget left in `c`'s pool.
    pub fn left(&self, pool: usize) -> u32 {
        self.inst.budget[pool].saturating_sub(self.used[pool])
    }

    /// Whether `c` is unchosen and fits its pool's budget.
    pub fn affordable(&self, c: usize) -> bool {
        !self.is_chosen[c] && self.inst.cost[c] <= self.left(self.inst.pool[c])
    }

    /// Adds `c` (which must be affordable).
    pub fn add(&mut self, c: usize) {
        debug_assert!(self.affordable(c));
        self.total += self.gain(c);
        for &i in &self.inst.sets[c] {
            self.count[i as usize] += 1;
        }
        self.is_chosen[c] = true;
        self.chosen.push(c);
        self.used[self.inst.pool[c]] += self.inst.cost[c];
    }

    /// Removes chosen `c`.
    pub fn remove(&mut self, c: usize) {
        debug_assert!(self.is_chosen[c]);
        self.total -= self.loss(c);
        for &i in &self.inst.sets[c] {
            self.count[i as usize] -= 1;
        }
        self.is_chosen[c] = false;
        self.chosen.retain(|&x| x != c);
        self.used[self.inst.pool[c]] -= self.inst.cost[c];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worth_counts_each_cell_once_and_state_agrees() {
        let inst = Instance::new(
            vec![1.0, 2.0, 4.0],
            vec![vec![0, 1], vec![1, 2], vec![2]],
            vec![1, 1, 1],
            vec![0, 0, 0],
            vec![2],
            |c| (c, 0),
        );
        assert_eq!(inst.worth(&[0, 1]), 7.0);
        let mut s = State::new(&inst);
        s.add(0);
        assert_eq!(s.gain(1), 4.0);
        s.add(1);
        assert_eq!(s.total, 7.0);
        assert!(!s.affordable(2), "budget spent");
        assert_eq!(s.loss(1), 4.0);
        s.remove(0);
        assert_eq!(s.total, 6.0);
        assert!(inst.feasible(&[0, 1]) && !inst.feasible(&[0, 1, 2]) && !inst.feasible(&[0, 0]));
    }
}
