//! The official Python `anthropic` SDK drives the gateway (tests/sdk/test_anthropic.py).

mod common;

use common::*;
use serde_json::json;

#[test]
fn anthropic_python_sdk() {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), "");
    run_pytest("tests/sdk/test_anthropic.py", &gw);
}
