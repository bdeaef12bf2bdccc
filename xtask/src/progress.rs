//! The run's progress: one overall bar on terminals (lines otherwise) whose length is
//! the sum of the selected figures' time budgets, advanced as figures finish and, for
//! running figures, by their elapsed time up to their budget; the ETA divides the budget
//! still to do by the rate measured so far.
//!
//! Every line the run prints (figure progress, the forwarded stderr of `qftml`) goes
//! through [`line()`], so that it appears above the bar instead of tearing it.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar lines are printed above, while a run is drawing one.
fn active_bar() -> &'static Mutex<Option<ProgressBar>> {
    static BAR: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();
    BAR.get_or_init(|| Mutex::new(None))
}

/// Prints one line on stderr, above the progress bar if one is drawn.
pub fn line(msg: impl AsRef<str>) {
    let bar = active_bar().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match bar.as_ref().filter(|b| !b.is_hidden()) {
        Some(b) => b.println(msg.as_ref()),
        None => eprintln!("{}", msg.as_ref()),
    }
}

#[derive(Debug, Default)]
struct State {
    /// Budget seconds of finished figures.
    done: f64,
    /// Running figures: name, start, budget.
    running: Vec<(String, Instant, f64)>,
    finished: usize,
}

/// Progress over a set of figures with time budgets.
#[derive(Debug)]
pub struct Progress {
    total: f64,
    count: usize,
    start: Instant,
    bar: ProgressBar,
    state: Mutex<State>,
}

/// Formats seconds as `42 s`, `7 min 05 s` or `1 h 02 min`.
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

impl Progress {
    /// Progress over `count` figures whose budgets sum to `total_budget` seconds; draws
    /// a bar on stderr if it is a terminal.
    pub fn new(count: usize, total_budget: f64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr_with_hz(2));
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        *active_bar().lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bar.clone());
        Self {
            total: total_budget.max(1e-9),
            count,
            start: Instant::now(),
            bar,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A figure with `budget` seconds started.
    pub fn started(&self, name: &str, budget: f64) {
        self.lock().running.push((name.to_owned(), Instant::now(), budget));
        self.refresh();
    }

    /// A figure that was started with [`Progress::started`] finished.
    pub fn finished(&self, name: &str, budget: f64) {
        let mut st = self.lock();
        st.running.retain(|(n, ..)| n != name);
        st.done += budget;
        st.finished += 1;
        drop(st);
        self.refresh();
    }

    /// Budget seconds done: finished figures in full, running ones up to 95 % of their budget.
    pub fn work_done(&self) -> f64 {
        let st = self.lock();
        st.done
            + st.running
                .iter()
                .map(|(_, t, b)| t.elapsed().as_secs_f64().min(0.95 * b))
                .sum::<f64>()
    }

    /// Seconds left: the budget still to do at the rate measured so far, or the budget
    /// itself before anything has been measured.
    pub fn eta_seconds(&self) -> f64 {
        let done = self.work_done();
        let left = (self.total - done).max(0.0);
        let elapsed = self.start.elapsed().as_secs_f64();
        if done > 0.02 * self.total && elapsed > 1.0 {
            left * elapsed / done
        } else {
            left
        }
    }

    /// `k/n figures, running: a, b; ETA …`.
    pub fn status(&self) -> String {
        let st = self.lock();
        let names: Vec<String> = st.running.iter().map(|(n, ..)| n.clone()).collect();
        let head = format!("{}/{} figures", st.finished, self.count);
        drop(st);
        let running = if names.is_empty() {
            String::new()
        } else {
            format!(", running {}", names.join(", "))
        };
        format!("{head}{running}; ETA {}", duration_text(self.eta_seconds()))
    }

    /// Redraws the bar (a no-op when stderr is not a terminal).
    pub fn refresh(&self) {
        let frac = (self.work_done() / self.total).clamp(0.0, 1.0);
        self.bar.set_position((frac * 1000.0) as u64);
        self.bar.set_message(self.status());
    }

    /// Redraws every half second until `stop` returns true.
    pub fn tick_until(&self, stop: impl Fn() -> bool) {
        while !stop() {
            self.refresh();
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        *active_bar().lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
