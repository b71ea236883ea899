//! The apply runner: a plan's steps split into stages, each run and verified in turn, and
//! every stage so far rolled back on the first failure.

use super::steps::{self, Journal, NotUndone};
use super::touched::Touched;
use super::{
    Backends, Batch, Cancel, Error, Event, Failure, Left, ProbeFailure, Progress, Request,
    reread_director, reread_hosts,
};
use crate::address::Address;
use crate::config::Config;
use crate::director::DirectorError;
use crate::plan::{Goal, Observed, Phase, Plan, Step};
use crate::probe::{PlannedProbe, ProbeError};

/// Steps that run together: on one director, or on the real servers.
struct Stage<'p> {
    /// The director's index; none for the real servers' stages.
    director: Option<usize>,
    steps: Vec<&'p (Phase, Step)>,
}

/// The stages of a plan: the real servers prepared, each director in declared order (its
/// settings, its IPVS changes, its VIPs' removal), the real servers cleaned up. Within a
/// stage, steps run by phase, and in the order of the changes within a phase.
///
/// Decision: a director's settings (sysctls, VIPs) change in its own stage, after the
/// real servers are prepared, and its VIPs leave before the real servers are cleaned up:
/// the same order for one director as for several, and in both a real server is ready
/// before any director sends it traffic.
///
/// The director that holds the VRRP VIPs (`holder`) goes last (SPEC §10): the backups are
/// changed first, and a change that moves the VIPs moves them once the others are ready.
fn stages<'p>(config: &Config, plan: &'p Plan, holder: Option<usize>) -> Vec<Stage<'p>> {
    let mut prepare = Vec::new();
    let mut cleanup = Vec::new();
    let mut directors: Vec<Vec<&(Phase, Step)>> = vec![Vec::new(); config.directors.len()];
    for change in &plan.changes {
        for step in &change.steps {
            match step {
                (Phase::HostCleanup, Step::Host { .. }) => cleanup.push(step),
                (_, Step::Host { .. }) => prepare.push(step),
                _ => directors[config.director_index(change.director.as_deref())].push(step),
            }
        }
    }
    let mut stages = vec![Stage {
        director: None,
        steps: prepare,
    }];
    let mut directors: Vec<Stage> = (directors.into_iter().enumerate())
        .map(|(index, steps)| Stage {
            director: Some(index),
            steps,
        })
        .collect();
    directors.sort_by_key(|stage| stage.director == holder);
    stages.extend(directors);
    stages.push(Stage {
        director: None,
        steps: cleanup,
    });
    for stage in &mut stages {
        stage.steps.sort_by_key(|(phase, _)| *phase);
    }
    stages
}

/// Reports a stage's progress as part of the whole apply, its batches under its
/// director's name.
struct Counted<'p> {
    inner: &'p mut dyn Progress,
    before: usize,
    total: usize,
    director: Option<&'p str>,
}

impl Progress for Counted<'_> {
    fn event(&mut self, event: Event<'_>) {
        let director = self.director;
        fn named<'b>(batch: Batch<'b>, director: Option<&'b str>) -> Batch<'b> {
            Batch { director, ..batch }
        }
        match event {
            Event::Started(batch) => self.inner.event(Event::Started(named(batch, director))),
            Event::Finished { batch, done, .. } => self.inner.event(Event::Finished {
                batch: named(batch, director),
                done: self.before + done,
                total: self.total,
            }),
            other => self.inner.event(other),
        }
    }
}

/// Carries out `request.plan`: stage by stage, each director verified before the next and
/// the real servers after the last; any failure rolls back every stage so far.
pub fn run(
    request: Request,
    backends: &mut Backends,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<(), Failure> {
    let Request {
        config,
        plan,
        mut observed,
        goal,
        targets,
    } = request;
    let holder = match crate::plan::vrrp::holders(config, &observed)[..] {
        [only] => Some(only),
        _ => None,
    };
    let stages = stages(config, plan, holder);
    let verifying = Verifying {
        config,
        goal,
        targets,
    };
    let total = stages.iter().map(|s| s.steps.len()).sum();
    // Servers that start getting traffic must answer before anything changes.
    let gates: Vec<&PlannedProbe> = plan.probes.iter().filter(|p| p.gate).collect();
    if let Err(error) = probe(config, backends, &gates, false, progress, cancel) {
        progress.event(Event::Failed(&error));
        let left = Box::default();
        return Err(Failure { error, left });
    }
    let mut done = 0;
    // Each stage run so far: its director (none: the real servers'), its journal, what it
    // touched as it was.
    let mut journals: Vec<(Option<usize>, Journal, Touched)> = Vec::new();
    let mut failed = None;
    for stage in stages.iter().filter(|s| !s.steps.is_empty()) {
        let index = stage.director.unwrap_or(0);
        let before = Touched::before(&observed, stage.director, &stage.steps);
        let mut counted = Counted {
            inner: progress,
            before: done,
            total,
            director: stage.director.and_then(|i| config.directors[i].name()),
        };
        let executed = crate::log::timed("steps executed", || {
            steps::execute(
                &stage.steps,
                &mut backends.reach(index),
                &mut counted,
                cancel,
            )
        });
        done += stage.steps.len();
        let (journal, error) = match executed {
            Ok(journal) => (journal, None),
            Err((error, journal)) => (journal, Some(error)),
        };
        journals.push((stage.director, journal, before));
        failed = error.or_else(|| {
            let director = stage.director?;
            progress.event(Event::Verifying);
            verifying
                .director(director, backends, &mut observed, &stage.steps)
                .err()
                .or_else(|| {
                    // Then its new and changed servers carry traffic through the VIP.
                    let name = config.directors[director].name();
                    let probes: Vec<&PlannedProbe> = (plan.probes.iter())
                        .filter(|p| p.director.as_deref() == name)
                        .collect();
                    probe(config, backends, &probes, true, progress, cancel).err()
                })
                .or_else(|| vrrp_settled(config, backends, director, &observed).err())
        });
        if failed.is_some() {
            break;
        }
    }
    let error = match failed {
        Some(error) => error,
        None => {
            let host_steps: Vec<&(Phase, Step)> = stages
                .iter()
                .filter(|s| s.director.is_none())
                .flat_map(|s| s.steps.iter().copied())
                .collect();
            if host_steps.is_empty() {
                return Ok(());
            }
            progress.event(Event::Verifying);
            match verifying.hosts(backends, &mut observed, &host_steps) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            }
        }
    };
    progress.event(Event::Failed(&error));
    let mut left = roll_back(config, backends, journals, progress);
    if let Error::Director(DirectorError::Probe(ProbeError::Left(what))) = &error {
        left.add(what.clone(), &error, false);
    }
    let left = Box::new(left);
    Err(Failure { error, left })
}

/// After the stage of a director in VRRP: waits until the director the keepalived files
/// now elect (the highest priority in them, some new and some old) holds the VIPs, alone.
/// keepalived's first election after a reload takes about 3 advertisement intervals, and a
/// takeover by a new priority as long.
fn vrrp_settled(
    config: &Config,
    backends: &mut Backends,
    director: usize,
    observed: &crate::plan::Observed,
) -> Result<(), Error> {
    let (Some(vrrp), Some(_)) = (&config.vrrp, config.directors[director].meta.vrrp_priority)
    else {
        return Ok(());
    };
    let Some(expected) = crate::plan::vrrp::expected(config, observed) else {
        return Ok(());
    };
    let bound = std::time::Duration::from_secs(4 * u64::from(vrrp.advert_interval) + 6);
    let start = std::time::Instant::now();
    loop {
        let mut facts = Vec::new();
        for (index, director) in config.directors.iter().enumerate() {
            facts.push(match director.meta.vrrp_priority {
                Some(_) => Some(backends.directors[index].settings.observe(
                    &[],
                    director.meta.interface.as_deref(),
                    None,
                )?),
                None => None,
            });
        }
        // A director not in VRRP yet still holds lvsform's VIPs until its own stage.
        let mut holders = crate::plan::vrrp::holding(config, |index| facts[index].as_ref());
        holders.retain(|&index| crate::plan::vrrp::in_vrrp(observed, index));
        if holders == [expected] {
            return Ok(());
        }
        if start.elapsed() > bound {
            let name = |index: usize| {
                let name = config.directors[index].name();
                name.unwrap_or("the director").to_string()
            };
            return Err(Error::VrrpUnsettled {
                expected: name(expected),
                holders: holders.into_iter().map(name).collect(),
                waited: bound.as_secs(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Runs `probes`, each on its director, one at a time: directly (every one, then the
/// failures together), or through the VIP (up to the first failure).
fn probe(
    config: &Config,
    backends: &mut Backends,
    probes: &[&PlannedProbe],
    through: bool,
    progress: &mut dyn Progress,
    cancel: &Cancel,
) -> Result<(), Error> {
    let mut failures = Vec::new();
    for planned in probes {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let index = config.director_index(planned.director.as_deref());
        let run = match through {
            true => planned.through_vip(),
            false => planned.direct(),
        };
        let outcome = backends.directors[index].settings.probe(&run)?;
        progress.event(Event::Probed {
            probe: planned,
            through,
            outcome: &outcome,
        });
        // Ctrl-C waits for the probe under way (it cleans up first), not for the others.
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if !outcome.passed {
            failures.push(ProbeFailure {
                probe: (*planned).clone(),
                through,
                outcome,
            });
            if through {
                break;
            }
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(Error::Probes(failures)),
    }
}

/// Undoes every stage run so far, the latest first; returns what is left. A rollback is
/// claimed (nothing left) only when what the stages touched reads as before.
fn roll_back(
    config: &Config,
    backends: &mut Backends,
    mut journals: Vec<(Option<usize>, Journal, Touched)>,
    progress: &mut dyn Progress,
) -> Left {
    let mut left = Left::default();
    for (director, journal, _) in journals.iter_mut().rev() {
        let journal = std::mem::take(journal);
        let not_undone = journal.rollback(&mut backends.reach(director.unwrap_or(0)), progress);
        // What a named director's undo leaves is said under its name.
        let name = director.and_then(|index| config.directors[index].name());
        for NotUndone {
            undo,
            error,
            in_doubt,
        } in not_undone
        {
            let what = match name {
                Some(name) => format!("{}: {undo}", Address::director().in_director(name)),
                None => undo.to_string(),
            };
            left.add(what, &error, in_doubt);
        }
    }
    if left.is_empty() {
        for (_, _, before) in &journals {
            left.items.extend(before.differences(config, backends));
        }
    }
    left
}

/// What a verification plans against.
struct Verifying<'a> {
    config: &'a Config,
    goal: Goal,
    targets: &'a [String],
}

impl Verifying<'_> {
    /// After a director's stage: its part of the plan, made again from a fresh read of
    /// what the stage touched, must be empty.
    fn director(
        &self,
        index: usize,
        backends: &mut Backends,
        observed: &mut Observed,
        steps: &[&(Phase, Step)],
    ) -> Result<(), Error> {
        let start = std::time::Instant::now();
        reread_director(self.config, index, backends, observed, steps).map_err(read_back)?;
        let (left, _) = crate::plan::director_part(self.config, index, observed, self.goal)
            .map_err(not_planned)?;
        let mut whole = Plan::default();
        whole.absorb(left, self.config.directors[index].name());
        self.nothing_left(whole, start)
    }

    /// After every director's stage: the real servers' part of the plan, made again from
    /// a fresh read of the hosts the stages touched, must be empty.
    fn hosts(
        &self,
        backends: &mut Backends,
        observed: &mut Observed,
        steps: &[&(Phase, Step)],
    ) -> Result<(), Error> {
        let start = std::time::Instant::now();
        reread_hosts(backends, observed, steps).map_err(read_back)?;
        let left = crate::plan::hosts_part(self.config, observed, Default::default(), self.goal)
            .map_err(not_planned)?;
        self.nothing_left(left, start)
    }

    fn nothing_left(&self, left: Plan, start: std::time::Instant) -> Result<(), Error> {
        let left = left.targeted(self.config, self.targets);
        let steps = left.steps().len();
        crate::log::debug(|| {
            format!(
                "verified in {:.2}s: {steps} steps left",
                start.elapsed().as_secs_f64()
            )
        });
        match steps {
            0 => Ok(()),
            n => Err(Error::ChangesRemain {
                steps: n,
                addresses: (left.changes.iter())
                    .filter(|c| !c.steps.is_empty())
                    .map(|c| c.address.to_string())
                    .collect(),
            }),
        }
    }
}

fn read_back(errors: Vec<super::ObserveError>) -> Error {
    Error::ReadBack {
        errors,
        diagnostics: vec![],
    }
}

fn not_planned(diagnostics: Vec<crate::diag::Diag>) -> Error {
    Error::ReadBack {
        errors: vec![],
        diagnostics,
    }
}
