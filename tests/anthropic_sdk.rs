//! The official Python `anthropic` SDK drives the gateway (tests/sdk/test_anthropic.py), with
//! keep-alives every 200 ms.

mod common;

use common::*;
use serde_json::json;

#[test]
fn anthropic_python_sdk() {
    let mock = start_mock(&["--pace-ms", "2"]);
    let gw = start_gateway(&mock, &json!([social_credential("a1", 3600)]), FAST_PINGS);
    run_pytest("tests/sdk/test_anthropic.py", &gw);
}
