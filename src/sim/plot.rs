//! SVG timeline.
use super::engine::Run;
use super::report::Report;
use super::scenario::Scenario;
use super::SimError;

pub fn render(_sc: &Scenario, _run: &Run, _rep: &Report) -> Result<String, SimError> {
    Ok(String::new())
}
