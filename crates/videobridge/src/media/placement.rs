//! Which worker a new conference goes to. Every endpoint of a conference
//! lives on the conference's worker (forwarding between them then needs no
//! hand-off), so balance is by conference: a new one goes to the worker
//! with the fewest endpoints, then the fewest conferences, then the lowest
//! index. Conferences never move; one that grows large keeps its worker.

#[derive(Debug, Clone)]
pub struct Placement {
    endpoints: Vec<usize>,
    conferences: Vec<usize>,
}

impl Placement {
    pub fn new(shards: usize) -> Self {
        let shards = shards.max(1);
        Placement {
            endpoints: vec![0; shards],
            conferences: vec![0; shards],
        }
    }

    #[cfg(test)]
    pub fn shards(&self) -> usize {
        self.endpoints.len()
    }

    /// The worker for a new conference (counted from now on).
    pub fn place_conference(&mut self) -> usize {
        let shard = (0..self.endpoints.len())
            .min_by_key(|&i| {
                (
                    self.endpoints.get(i).copied().unwrap_or(usize::MAX),
                    self.conferences.get(i).copied().unwrap_or(usize::MAX),
                )
            })
            .unwrap_or(0);
        if let Some(c) = self.conferences.get_mut(shard) {
            *c += 1;
        }
        shard
    }

    /// A conference with `endpoints` left has gone.
    pub fn remove_conference(&mut self, shard: usize, endpoints: usize) {
        if let Some(c) = self.conferences.get_mut(shard) {
            *c = c.saturating_sub(1);
        }
        self.remove_endpoints(shard, endpoints);
    }

    pub fn add_endpoint(&mut self, shard: usize) {
        if let Some(e) = self.endpoints.get_mut(shard) {
            *e += 1;
        }
    }

    pub fn remove_endpoints(&mut self, shard: usize, n: usize) {
        if let Some(e) = self.endpoints.get_mut(shard) {
            *e = e.saturating_sub(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conferences_go_to_the_least_loaded_worker() {
        let mut p = Placement::new(3);
        assert_eq!(p.place_conference(), 0);
        assert_eq!(p.place_conference(), 1);
        assert_eq!(p.place_conference(), 2);
        // Worker 1 gets busy: new conferences avoid it.
        for _ in 0..10 {
            p.add_endpoint(1);
        }
        p.add_endpoint(0);
        p.add_endpoint(2);
        p.add_endpoint(2);
        assert_eq!(p.place_conference(), 0);
        assert_eq!(p.place_conference(), 0, "still the fewest endpoints");
        // Equal endpoints: the fewer conferences win (0 has 3, 2 has 1).
        p.add_endpoint(0);
        assert_eq!(p.place_conference(), 2);
        // The big conference leaves: worker 1 is the emptiest again.
        p.remove_conference(1, 10);
        assert_eq!(p.place_conference(), 1);
        // Never underflows.
        p.remove_conference(1, 100);
        p.remove_conference(1, 100);
        assert_eq!(p.place_conference(), 1);
    }

    #[test]
    fn one_worker_takes_everything() {
        let mut p = Placement::new(0);
        assert_eq!(p.shards(), 1);
        assert_eq!(p.place_conference(), 0);
        assert_eq!(p.place_conference(), 0);
    }
}
