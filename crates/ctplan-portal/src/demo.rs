//! The demo: a fresh portal (a data folder without any account) gets a team `demo`, a surgeon
//! `demo` with a random password, and a lung case on the procedural chest CT
//! (`ctplan_lung::phantom::demo_ct`, with its nodule confirmed), queued for the worker; so that
//! `ctplan serve` on a new machine opens a working portal with a case to look at. Never done
//! on a data folder that has an account, and not at all with `ctplan serve --no-demo`.

use crate::store::{Role, new_id};
use crate::{Portal, PortalError};

/// The demo's account, team and case names.
pub const DEMO: &str = "demo";

/// Seed the demo when the portal has no account yet: the surgeon's name and password (shown
/// once, to whoever started the server), or `None` when there are accounts already.
pub fn seed(portal: &Portal) -> Result<Option<(String, String)>, PortalError> {
    if portal.store().user_count()? > 0 {
        return Ok(None);
    }
    let password = new_id()?;
    let user = crate::admin::create_user(portal, DEMO, &password, Role::Surgeon)?;
    let team = portal.store().create_team(DEMO)?;
    portal.store().add_member(&team, &user.id)?;
    let (ct, nodule) = ctplan_lung::phantom::demo_ct()
        .map_err(|e| PortalError::Invalid(format!("the demo chest CT: {e}")))?;
    let folder = crate::upload::store_volume(portal, &ctplan_core::AnyVolume::I16(ct))
        .map_err(|e| PortalError::Io(e.message))?;
    // The nodule is confirmed before the case is recorded, which queues its job.
    let points = serde_json::to_vec(&[nodule]).map_err(|e| PortalError::Io(e.to_string()))?;
    let file = portal
        .store()
        .dir()
        .join("cases")
        .join(&folder)
        .join(crate::jobs::NODULES_FILE);
    ctplan_io::write_bytes(&file, &points).map_err(|e| PortalError::Io(e.to_string()))?;
    crate::upload::record_case(
        portal,
        &crate::upload::NewCase {
            team: &team,
            kind: "lung",
            name: "Demo chest (synthetic CT)",
            by: &user.id,
            detail: "demo case",
        },
        &folder,
    )
    .map_err(|e| PortalError::Io(e.message))?;
    Ok(Some((DEMO.to_string(), password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_portal_gets_the_demo_once_and_one_with_accounts_never() {
        let dir = tempfile::tempdir().unwrap();
        let portal = Portal::open(dir.path(), crate::Config::default()).unwrap();
        let (name, password) = seed(&portal).unwrap().unwrap();
        assert_eq!(name, "demo");
        assert!(password.len() >= 10);
        let (user, _) = portal.store().user_by_name("demo").unwrap().unwrap();
        let cases = portal.store().visible_cases(&user.id).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].kind, "lung");
        let job = portal.store().latest_job(&cases[0].id).unwrap().unwrap();
        assert_eq!(job.state, "queued");
        // Its nodule is confirmed: the point the job grows the lesion from.
        let points: Vec<[f64; 3]> = serde_json::from_slice(
            &std::fs::read(
                portal
                    .store()
                    .case_dir(&cases[0])
                    .join(crate::jobs::NODULES_FILE),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(points, vec![ctplan_lung::phantom::synthetic::NODULE.0]);
        assert!(seed(&portal).unwrap().is_none());

        let other = tempfile::tempdir().unwrap();
        let portal = Portal::open(other.path(), crate::Config::default()).unwrap();
        portal
            .create_admin("root", "a long enough password")
            .unwrap();
        assert!(seed(&portal).unwrap().is_none());
    }
}
