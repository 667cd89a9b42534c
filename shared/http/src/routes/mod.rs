pub mod audit;
pub mod course_runs;
