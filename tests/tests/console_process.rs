//! `strata console` on its own, in front of a `strata server` it reaches over HTTPS with the
//! kubeconfig's server and CA: it shows what the signed-in token may see, and refuses a token
//! the API server refuses — it never acts with the kubeconfig's own credentials.

use std::process::{Command, Stdio};
use std::time::Duration;

use strata_e2e::agent::http_get;
use strata_e2e::apps::sleeper;
use strata_e2e::{Process, Server, eventually, free_port, strata_bin};

#[test]
fn strata_console_serves_the_apps_of_the_token_it_is_given() {
    let server = Server::start();
    server.kubectl_ok_stdin(&["apply", "-f", "-"], Some(&sleeper("visible", 0, "")));
    let port = free_port();
    let _console = Process(
        Command::new(strata_bin())
            .args(["console", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .stdout(Stdio::null())
            .spawn()
            .expect("strata console starts"),
    );
    let listening = eventually(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    assert!(listening.is_some(), "strata console listens on {port}");

    let (status, body) = http_get(port, "/apps", Some(&server.admin_token()));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("data-name=\"visible\""),
        "the app's row:\n{body}"
    );

    let (status, body) = http_get(port, "/apps", Some("not-a-token-anyone-issued"));
    assert_eq!(status, 401, "a token the API server refuses:\n{body}");
    let (status, _) = http_get(port, "/apps", None);
    assert_eq!(status, 303, "no token: to the sign-in page");
}
