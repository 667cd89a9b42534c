//! The one integration-test binary: conformance suites for every adapter,
//! the HTTP API end to end on both engine sets, the Lambda event fixtures,
//! and the infra drift check. AWS adapters talk to the local AWS-compatible
//! server whose address is in TMS_TEST_AWS_ENDPOINT (the test command,
//! `tests/run`, starts it).

mod api;
mod assessments;
mod attendance;
mod audit;
mod auth;
mod bad_input;
mod call_counts;
mod course_of_events;
mod enrolments;
mod infra_bootstrap;
mod infra_drift;
mod lambda_events;
mod openapi;
mod queue_conformance;
mod secrets_conformance;
mod store_conformance;
mod sync;
mod sync_assessments;
mod sync_enrolments;
mod trainees;
