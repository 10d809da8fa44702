//! How `strata deploy --wait` shows progress: a bar per app in a terminal (step, instances
//! healthy / wanted, what it waits for), or one line per change when the output is a file or a
//! pipe (CI logs, tests), so nothing is lost and nothing repeats.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::verdict::Progress;

/// Where progress goes.
pub enum Display {
    /// Bars, drawn on stderr.
    Bars(MultiProgress),
    /// Lines on stdout.
    Lines,
}

impl Display {
    /// Bars when both stdout and stderr are terminals, lines otherwise.
    pub fn detect() -> Display {
        if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Display::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Display::Lines
        }
    }

    /// A reporter for the object `label` ("app/web").
    pub fn reporter(&self, label: &str) -> Reporter {
        let bar = match self {
            Display::Bars(multi) => {
                // Length 1 until the target is known: a 0/0 bar would draw full.
                let bar = multi.add(ProgressBar::new(1));
                let style = ProgressStyle::with_template(
                    "{spinner} {prefix:.bold} [{bar:20}] {pos}/{len} healthy\n  {wide_msg}",
                )
                .expect("the progress template is valid")
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(label.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                Some((multi.clone(), bar))
            }
            Display::Lines => None,
        };
        Reporter {
            label: label.to_string(),
            bar,
            last: String::new(),
        }
    }
}

/// Shows one app's progress.
pub struct Reporter {
    label: String,
    bar: Option<(MultiProgress, ProgressBar)>,
    last: String,
}

impl Reporter {
    /// Shows `p` (a line only when it differs from the last one).
    pub fn update(&mut self, p: &Progress) {
        match &self.bar {
            Some((_, bar)) => {
                bar.set_length(u64::from(p.target));
                bar.set_position(u64::from(p.healthy));
                bar.set_prefix(
                    format!("{} {}", self.label, p.head())
                        .trim_end()
                        .to_string(),
                );
                bar.set_message(p.waiting_text());
            }
            None => {
                let line = p.line();
                if line != self.last {
                    println!("{}: {line}", self.label);
                    self.last = line;
                }
            }
        }
    }

    /// Removes the bar and prints `text` after the label, on stdout.
    pub fn finish(&mut self, text: &str) {
        let line = format!("{}: {text}", self.label);
        match self.bar.take() {
            Some((multi, bar)) => {
                bar.finish_and_clear();
                multi.remove(&bar);
                multi.suspend(|| println!("{line}"));
            }
            None => println!("{line}"),
        }
    }

    /// Removes the bar, leaving the error to be printed.
    pub fn abandon(&mut self) {
        if let Some((multi, bar)) = self.bar.take() {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
}
