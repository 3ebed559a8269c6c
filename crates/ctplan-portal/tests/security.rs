//! Who may do what, on every route of the route table: anonymous users get 401 everywhere but
//! login; a state-changing request without the CSRF token gets 403; another team's case or
//! job gets 404 (as a case that does not exist would). Then sessions, cookies, rate limits,
//! roles, sharing and the audit log.

mod common;

use axum::http::{StatusCode, header};
use common::{App, Client};
use ctplan_portal::Role;
use ctplan_portal::routes::{Access, ROUTES};

/// Team "a" with surgeon `sa` and viewer `va`, team "b" with surgeon `sb`; one case of team
/// "a" uploaded by `sa` (its lung job queued, no worker running).
struct Fixture {
    app: App,
    sa: Client,
    va: Client,
    sb: Client,
    case: String,
    job: String,
}

async fn fixture() -> Fixture {
    let app = App::new();
    app.user("sa", Role::Surgeon, Some("a"));
    app.user("va", Role::Viewer, Some("a"));
    app.user("sb", Role::Surgeon, Some("b"));
    let sa = app.login("sa").await;
    let va = app.login("va").await;
    let sb = app.login("sb").await;
    let r = app
        .upload(
            &sa,
            &app.team_id("a"),
            "ct.nrrd",
            common::nrrd_bytes([6, 5, 4]),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    let case = j["case"]["id"].as_str().unwrap().to_string();
    let job = j["job"]["id"].as_str().unwrap().to_string();
    Fixture {
        app,
        sa,
        va,
        sb,
        case,
        job,
    }
}

impl Fixture {
    fn uri(&self, path: &str) -> String {
        path.replace("{case}", &self.case)
            .replace("{job}", &self.job)
            .replace("{team}", &self.app.team_id("a"))
            .replace("{file}", "ct.nrrd")
            .replace("{token}", &"a".repeat(32))
    }
}

#[tokio::test]
async fn every_route_but_login_refuses_anonymous_users() {
    let f = fixture().await;
    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| r.access != Access::Open) {
        let reply = f
            .app
            .call(r.method, &f.uri(r.path), None, false, None)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{} {}",
            r.method,
            r.path
        );
        assert!(reply.json()["error"].is_string(), "{} {}", r.method, r.path);
        checked += 1;
    }
    assert!(checked >= 14, "{checked} routes");
    // A forged cookie is no session either.
    let forged = Client {
        cookie: format!("ctplan_session={}", "0".repeat(64)),
        csrf: String::new(),
    };
    let reply = f
        .app
        .call("GET", "/api/cases", Some(&forged), false, None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_state_changing_route_needs_the_csrf_token() {
    let f = fixture().await;
    let wrong = Client {
        csrf: "0".repeat(64),
        ..f.sa.clone()
    };
    let mut checked = 0;
    for r in ROUTES
        .iter()
        .filter(|r| r.changes() && matches!(r.access, Access::Session | Access::Case | Access::Job))
    {
        let uri = f.uri(r.path);
        let body = Some(serde_json::json!({}));
        let reply = f
            .app
            .call(r.method, &uri, Some(&f.sa), false, body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{} {}",
            r.method,
            r.path
        );
        assert!(reply.json()["error"].as_str().unwrap().contains("CSRF"));
        let reply = f.app.call(r.method, &uri, Some(&wrong), true, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{} {}",
            r.method,
            r.path
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked} routes");
}

#[tokio::test]
async fn every_case_route_answers_another_team_404_and_the_team_not() {
    let f = fixture().await;
    let mut checked = 0;
    for r in ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::Case | Access::Job))
    {
        let uri = f.uri(r.path);
        let body = Some(serde_json::json!({"name": "renamed"}));
        let other = f
            .app
            .call(r.method, &uri, Some(&f.sb), true, body.clone())
            .await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{} {}",
            r.method,
            r.path
        );
        // The same answer as for a case or job that does not exist.
        let missing = uri
            .replace(&f.case, &"f".repeat(32))
            .replace(&f.job, &"e".repeat(32));
        let none = f
            .app
            .call(r.method, &missing, Some(&f.sa), true, body.clone())
            .await;
        assert_eq!(
            none.status,
            StatusCode::NOT_FOUND,
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(other.body, none.body);
        // The case's own team reaches the route (whatever else it then says).
        let own = f.app.call(r.method, &uri, Some(&f.sa), true, body).await;
        assert_ne!(own.status, StatusCode::NOT_FOUND, "{} {}", r.method, r.path);
        checked += 1;
    }
    assert!(checked >= 7, "{checked} routes");
    // And the list does not show it.
    let list = f
        .app
        .call("GET", "/api/cases", Some(&f.sb), false, None)
        .await;
    assert_eq!(list.json(), serde_json::json!([]));
}

#[tokio::test]
async fn session_cookie_flags_logout_and_tls() {
    let f = fixture().await;
    let r = f
        .app
        .login_from("sa", common::PASSWORD, [10, 0, 0, 1])
        .await;
    let set = r.headers[header::SET_COOKIE].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    // The session tells the user, teams and CSRF token.
    let s = f
        .app
        .call("GET", "/api/session", Some(&f.sa), false, None)
        .await;
    assert_eq!(s.json()["user"]["name"], "sa");
    assert_eq!(s.json()["csrf"], f.sa.csrf.as_str());
    assert_eq!(s.json()["teams"][0]["name"], "a");
    // Logout ends the session for good.
    let out = f
        .app
        .call("POST", "/api/logout", Some(&f.sa), true, None)
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = f
        .app
        .call("GET", "/api/session", Some(&f.sa), false, None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    // Behind TLS the cookie is Secure; the token is stored only hashed.
    let tls = App::with(ctplan_portal::Config {
        tls: true,
        ..Default::default()
    });
    tls.user("t", Role::Viewer, None);
    let r = tls.login_from("t", common::PASSWORD, [127, 0, 0, 1]).await;
    let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.contains("; Secure"), "{set}");
    let token = set.split(';').next().unwrap().split('=').nth(1).unwrap();
    let db = std::fs::read(tls.data().join("portal.db")).unwrap();
    let wal = std::fs::read(tls.data().join("portal.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[tokio::test]
async fn logins_are_rate_limited_per_name_and_per_address() {
    let app = App::new();
    app.user("u", Role::Viewer, None);
    app.user("w", Role::Viewer, None);
    for _ in 0..5 {
        let r = app.login_from("u", "wrong password!", [10, 0, 0, 1]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // The right password no longer helps for this name, from anywhere.
    let r = app.login_from("u", common::PASSWORD, [10, 0, 0, 2]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // The address that failed is blocked for other names too; another address is not.
    let r = app.login_from("w", common::PASSWORD, [10, 0, 0, 1]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = app.login_from("w", common::PASSWORD, [10, 0, 0, 3]).await;
    assert_eq!(r.status, StatusCode::OK);
    // Unknown names and wrong passwords get the same answer.
    let a = app.login_from("nobody", "x", [10, 0, 0, 4]).await;
    let b = app.login_from("w", "x", [10, 0, 0, 4]).await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    // So does a name longer than any account's (not kept as a limiter key).
    let c = app
        .login_from(&"n".repeat(100_000), "x", [10, 0, 0, 5])
        .await;
    assert_eq!((c.status, &c.body), (b.status, &b.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_parallel_logins_gets_no_more_guesses_than_the_limit() {
    let app = App::new();
    app.user("p", Role::Viewer, None);
    // 16 wrong passwords for one name at once, each from its own address: each is counted
    // before its password is checked, so 5 are checked and the rest refused unseen.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16u8 {
        let router = app.portal.router();
        let mut req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(
                serde_json::json!({"name": "p", "password": format!("guess number {i}")})
                    .to_string(),
            ))
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [10, 1, 0, i],
                40000,
            ))));
        set.spawn(async move {
            use tower::ServiceExt;
            router.oneshot(req).await.unwrap().status()
        });
    }
    let mut checked = 0;
    let mut refused = 0;
    while let Some(status) = set.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!((checked, refused), (5, 11));
    // Logins that succeed use up nothing: they can repeat without end.
    app.user("q", Role::Viewer, None);
    for _ in 0..8 {
        let r = app.login_from("q", common::PASSWORD, [10, 2, 0, 1]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn roles_limit_what_users_do() {
    let f = fixture().await;
    let team = f.app.team_id("a");
    // A viewer reads but does not upload, rename or run jobs.
    let r = f
        .app
        .upload(&f.va, &team, "ct.nrrd", common::nrrd_bytes([2, 2, 2]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let uri = format!("/api/cases/{}", f.case);
    assert_eq!(
        f.app
            .call("GET", &uri, Some(&f.va), false, None)
            .await
            .status,
        StatusCode::OK
    );
    let body = Some(serde_json::json!({"name": "x"}));
    assert_eq!(
        f.app
            .call("PUT", &uri, Some(&f.va), true, body)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A surgeon does not create users or teams; an admin does.
    let new_user = serde_json::json!({"name": "n", "password": common::PASSWORD, "role": "viewer"});
    let r = f
        .app
        .call(
            "POST",
            "/api/users",
            Some(&f.sa),
            true,
            Some(new_user.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    f.app.portal.create_admin("root", common::PASSWORD).unwrap();
    let root = f.app.login("root").await;
    let r = f
        .app
        .call("POST", "/api/users", Some(&root), true, Some(new_user))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = f
        .app
        .call(
            "POST",
            "/api/teams",
            Some(&root),
            true,
            Some(serde_json::json!({"name": "c"})),
        )
        .await;
    let c = r.json()["id"].as_str().unwrap().to_string();
    let r = f
        .app
        .call(
            "POST",
            &format!("/api/teams/{c}/members"),
            Some(&root),
            true,
            Some(serde_json::json!({"user": "n"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A surgeon uploads only into its own teams.
    let r = f
        .app
        .upload(&f.sb, &team, "ct.nrrd", common::nrrd_bytes([2, 2, 2]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Login takes JSON only (a cross-site form cannot send it).
    let r = f
        .app
        .send(
            axum::http::Request::builder()
                .method("POST")
                .uri("/api/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(axum::body::Body::from("name=sa&password=x"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn sharing_opens_a_case_to_another_team_and_everything_is_audited() {
    let f = fixture().await;
    let uri = format!("/api/cases/{}", f.case);
    assert_eq!(
        f.app
            .call("GET", &uri, Some(&f.sb), false, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let b = f.app.team_id("b");
    let share = f
        .app
        .call(
            "POST",
            &format!("{uri}/shares"),
            Some(&f.sa),
            true,
            Some(serde_json::json!({"team": b})),
        )
        .await;
    assert_eq!(
        share.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&share.body)
    );
    assert_eq!(
        f.app
            .call("GET", &uri, Some(&f.sb), false, None)
            .await
            .status,
        StatusCode::OK
    );
    let list = f
        .app
        .call("GET", "/api/cases", Some(&f.sb), false, None)
        .await
        .json();
    assert_eq!(list[0]["case"]["id"], f.case.as_str());
    assert_eq!(list[0]["job"]["state"], "queued");
    assert_eq!(list[0]["files"], serde_json::json!(["ct.nrrd"]));
    let ct = f
        .app
        .call(
            "GET",
            &format!("{uri}/files/ct.nrrd"),
            Some(&f.sb),
            false,
            None,
        )
        .await;
    assert_eq!(ct.status, StatusCode::OK);
    assert!(ct.body.starts_with(b"NRRD"));
    assert_eq!(ct.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(ct.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // Shared to read, not to change or share on.
    let r = f
        .app
        .call(
            "PUT",
            &uri,
            Some(&f.sb),
            true,
            Some(serde_json::json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = f
        .app
        .call(
            "PUT",
            &uri,
            Some(&f.sa),
            true,
            Some(serde_json::json!({"name": "left upper"})),
        )
        .await;
    assert_eq!(r.json()["name"], "left upper");
    // The audit log keeps that the case was renamed, not the names (a rename is how a name
    // given by mistake, the patient's, is taken back).
    let log = f
        .app
        .call("GET", &format!("{uri}/audit"), Some(&f.sa), false, None)
        .await;
    assert!(
        !String::from_utf8_lossy(&log.body).contains("left upper"),
        "{}",
        String::from_utf8_lossy(&log.body)
    );
    // Only known result files, nothing else of the folder.
    for name in ["..%2Fportal.db", "portal.db", ".ctplan-output"] {
        let r = f
            .app
            .call(
                "GET",
                &format!("{uri}/files/{name}"),
                Some(&f.sa),
                false,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}");
    }
    let audit = f
        .app
        .call("GET", &format!("{uri}/audit"), Some(&f.sa), false, None)
        .await
        .json();
    let rows: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("sa", "upload"),
        ("sb", "open"),
        ("sa", "share"),
        ("sb", "download"),
        ("sa", "change"),
    ] {
        assert!(
            rows.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {rows:?}"
        );
    }
}
