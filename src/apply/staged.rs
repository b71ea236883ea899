//! Applying a plan over named directors, in stages: the real servers are prepared once,
//! then each director in declared order — its steps, then a read-back that must find
//! nothing left to do there — before the next; the real servers' cleanup comes after the
//! last. A failure anywhere undoes every stage so far, the latest first.

use super::steps::{self, Journal};
use super::{Backends, Cancel, Error, Event, Failure, Progress, Touched, observe_after};
use crate::config::Config;
use crate::director::Director;
use crate::host::Host;
use crate::ipvs::Ipvs;
use crate::plan::{Goal, Observed, Phase, Plan, Step};

/// A plan over named directors to carry out, with what it was made from.
pub struct NamedRequest<'a> {
    pub config: &'a Config,
    pub plan: &'a Plan,
    /// Per director, in declared order, each with every host's facts.
    pub observed: Vec<Observed>,
    pub goal: Goal,
    pub targets: &'a [String],
}

/// What a plan over named directors works on.
pub struct Fleet<'a> {
    /// Each named director's table and settings, in declared order.
    pub directors: Vec<(&'a mut dyn Ipvs, &'a mut dyn Director)>,
    pub hosts: &'a mut [Box<dyn Host>],
    pub parallelism: usize,
    pub drain: bool,
}

impl Fleet<'_> {
    /// The backends of director `index` (and the hosts).
    fn backends(&mut self, index: usize) -> Backends<'_> {
        let (ipvs, director) = &mut self.directors[index];
        Backends {
            ipvs: &mut **ipvs,
            hosts: self.hosts,
            director: &mut **director,
            parallelism: self.parallelism,
            drain: self.drain,
        }
    }
}

/// Steps that run together on one director's backends (host stages use the first's).
struct Stage<'p> {
    director: usize,
    steps: Vec<&'p (Phase, Step)>,
    /// Verified when done: a director's stage is planned again on its own.
    verify: bool,
}

/// Reports a stage's progress as part of the whole apply.
struct Counted<'p> {
    inner: &'p mut dyn Progress,
    before: usize,
    total: usize,
}

impl Progress for Counted<'_> {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Finished { batch, done, .. } => self.inner.event(Event::Finished {
                batch,
                done: self.before + done,
                total: self.total,
            }),
            other => self.inner.event(other),
        }
    }
}

/// Carries out a plan over named directors: stage by stage, each director verified before
/// the next; any failure rolls back every stage so far.
pub fn run_named(
    request: NamedRequest,
    fleet: &mut Fleet,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<(), Failure> {
    let NamedRequest {
        config,
        plan,
        mut observed,
        goal,
        targets,
    } = request;
    let steps_of = |director: Option<&str>, keep: &dyn Fn(Phase) -> bool| {
        let mut steps: Vec<&(Phase, Step)> = plan
            .changes
            .iter()
            .filter(|c| c.director.as_deref() == director)
            .flat_map(|c| &c.steps)
            .filter(|(phase, _)| keep(*phase))
            .collect();
        steps.sort_by_key(|(phase, _)| *phase);
        steps
    };
    let mut stages = vec![Stage {
        director: 0,
        steps: steps_of(None, &|p| p != Phase::HostCleanup),
        verify: false,
    }];
    for (index, director) in config.directors.iter().enumerate() {
        stages.push(Stage {
            director: index,
            steps: steps_of(Some(&director.name), &|_| true),
            verify: true,
        });
    }
    stages.push(Stage {
        director: 0,
        steps: steps_of(None, &|p| p == Phase::HostCleanup),
        verify: false,
    });
    let views: Vec<Config> = (0..config.directors.len())
        .map(|i| config.director_view(i))
        .collect();
    let total = stages.iter().map(|s| s.steps.len()).sum();
    let mut done = 0;
    // Each stage run so far: its director, its journal, what it touched as it was.
    let mut journals: Vec<(usize, Journal, Touched)> = Vec::new();
    let mut failed = None;
    for stage in &stages {
        if stage.steps.is_empty() {
            continue;
        }
        let d = stage.director;
        let before = Touched::before(&observed[d], &stage.steps);
        let mut counted = Counted {
            inner: progress,
            before: done,
            total,
        };
        let mut backends = fleet.backends(d);
        let executed = steps::execute(&stage.steps, &mut backends, &mut counted, cancel);
        done += stage.steps.len();
        match executed {
            Ok(journal) => journals.push((d, journal, before)),
            Err((error, journal)) => {
                journals.push((d, journal, before));
                failed = Some(error);
                break;
            }
        }
        if stage.verify {
            progress.event(Event::Verifying);
            let mut backends = fleet.backends(d);
            let after = observe_after(&views[d], &mut backends, observed[d].clone(), &stage.steps)
                .map_err(|errors| Error::ReadBack {
                    errors,
                    diagnostics: vec![],
                });
            let left = after.and_then(|after| {
                let left = crate::plan::make(&views[d], &after, goal).map_err(|diagnostics| {
                    Error::ReadBack {
                        errors: vec![],
                        diagnostics,
                    }
                })?;
                observed[d] = after;
                Ok(left)
            });
            let remaining = left.map(|left| {
                let mut whole = Plan::default();
                whole.absorb(left, Some(&config.directors[d].name));
                whole.targeted(config, targets).steps().len()
            });
            match remaining {
                Ok(0) => {}
                Ok(n) => {
                    failed = Some(Error::ChangesRemain(n));
                    break;
                }
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
    }
    let error = match failed {
        None => {
            progress.event(Event::Verifying);
            match verify_hosts(config, fleet, &observed, &stages, goal, targets) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            }
        }
        Some(error) => error,
    };
    progress.event(Event::Failed(&error));
    let mut left = Vec::new();
    for (d, journal, _) in journals.iter_mut().rev() {
        let journal = std::mem::take(journal);
        left.extend(journal.rollback(&mut fleet.backends(*d), progress));
    }
    if left.is_empty() {
        // A rollback is claimed only when what the stages touched reads as before.
        for (d, _, before) in &journals {
            let view = &views[*d];
            left.extend(before.differences(view, &mut fleet.backends(*d)));
        }
    }
    Err(Failure { error, left })
}

/// After every director's stage: the real servers' part of the plan, made again from a
/// fresh read of the hosts the stages touched, must be empty.
fn verify_hosts(
    config: &Config,
    fleet: &mut Fleet,
    observed: &[Observed],
    stages: &[Stage],
    goal: Goal,
    targets: &[String],
) -> Result<(), Error> {
    let host_steps: Vec<&(Phase, Step)> = stages
        .iter()
        .filter(|s| !s.verify)
        .flat_map(|s| s.steps.iter().copied())
        .collect();
    if host_steps.is_empty() {
        return Ok(());
    }
    let read_back = |errors| Error::ReadBack {
        errors,
        diagnostics: vec![],
    };
    let view = config.director_view(0);
    let after = observe_after(
        &view,
        &mut fleet.backends(0),
        observed[0].clone(),
        &host_steps,
    )
    .map_err(read_back)?;
    let left = crate::plan::hosts_part(config, &after, Default::default(), goal).map_err(
        |diagnostics| Error::ReadBack {
            errors: vec![],
            diagnostics,
        },
    )?;
    let left = left.targeted(config, targets).steps().len();
    if left == 0 {
        Ok(())
    } else {
        Err(Error::ChangesRemain(left))
    }
}
