//! Unit tests of the users store: tokens, expiry, revocation, the bootstrap admin.

use super::*;

fn open(token: &str) -> (tempfile::TempDir, Store, Accounts) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let accounts = Accounts::open(&store, token).expect("accounts");
    (dir, store, accounts)
}

fn new(name: &str, role: Role) -> NewUser {
    NewUser {
        name: name.into(),
        role,
        expires_at_ms: None,
    }
}

const BOOT: &str = "bootstrap-token-0123456789";

#[test]
fn the_bootstrap_token_is_the_first_admin_and_stays_so_across_restarts() {
    let (_d, store, accounts) = open(BOOT);
    let actor = accounts.authenticate(BOOT, now_ms()).expect("admin");
    assert_eq!(actor.role, Role::Admin);
    assert_eq!(actor.id, bootstrap_id());
    drop(accounts);
    let again = Accounts::open(&store, BOOT).expect("reopen");
    assert_eq!(again.list().len(), 1);
    // A replaced token file replaces the admin's token.
    let replaced = Accounts::open(&store, "another-bootstrap-token").expect("reopen");
    assert_eq!(
        replaced.authenticate(BOOT, now_ms()),
        Err(AuthError::Unknown)
    );
    assert!(
        replaced
            .authenticate("another-bootstrap-token", now_ms())
            .is_ok()
    );
}

#[test]
fn tokens_authenticate_their_user_and_are_stored_only_as_hashes() {
    let (_d, store, accounts) = open(BOOT);
    let (view, token) = accounts
        .add(new("analyst one", Role::Analyst), &bootstrap_id())
        .expect("add");
    assert_eq!(token.len(), 64);
    let actor = accounts.authenticate(&token, now_ms()).expect("known");
    assert_eq!(
        (actor.id.as_str(), actor.role),
        (view.id.as_str(), Role::Analyst)
    );
    assert_eq!(
        accounts.authenticate("nope", now_ms()),
        Err(AuthError::Unknown)
    );
    for item in store.keyspace("users").expect("keyspace").iter() {
        let (_, value) = item.expect("item");
        let text = String::from_utf8_lossy(&value);
        assert!(!text.contains(&token) && !text.contains(BOOT), "{text}");
    }
}

#[test]
fn revoked_and_expired_tokens_are_refused_and_the_last_admin_stays() {
    let (_d, _s, accounts) = open(BOOT);
    let (user, token) = accounts
        .add(new("officer", Role::Officer), "x")
        .expect("add");
    accounts.revoke(&user.id).expect("revoke");
    assert_eq!(
        accounts.authenticate(&token, now_ms()),
        Err(AuthError::Revoked)
    );
    assert_eq!(accounts.revoke(&user.id).expect("again").status, "revoked");
    let short = NewUser {
        expires_at_ms: Some(now_ms() + 1_000),
        ..new("short", Role::Analyst)
    };
    let (_, token) = accounts.add(short, "x").expect("add");
    assert!(accounts.authenticate(&token, now_ms()).is_ok());
    assert_eq!(
        accounts.authenticate(&token, now_ms() + 2_000),
        Err(AuthError::Expired)
    );
    assert!(matches!(
        accounts.revoke(&bootstrap_id()),
        Err(AccountsError::LastAdmin(_))
    ));
    let (second, _) = accounts
        .add(new("admin two", Role::Admin), "x")
        .expect("add");
    accounts
        .revoke(&bootstrap_id())
        .expect("another admin is active");
    assert!(matches!(
        accounts.revoke(&second.id),
        Err(AccountsError::LastAdmin(_))
    ));
    assert!(matches!(
        accounts.revoke("nobody"),
        Err(AccountsError::NotFound(_))
    ));
}

#[test]
fn names_are_checked_and_unique_among_active_users() {
    let (_d, _s, accounts) = open(BOOT);
    for bad in ["", "  ", "a\nb", &"x".repeat(MAX_NAME_CHARS + 1)] {
        assert!(
            matches!(
                accounts.add(new(bad, Role::Analyst), "x"),
                Err(AccountsError::Field { field: "name", .. })
            ),
            "{bad:?}"
        );
    }
    let (first, _) = accounts.add(new("ana", Role::Analyst), "x").expect("add");
    assert!(matches!(
        accounts.add(new("ana", Role::Officer), "x"),
        Err(AccountsError::NameTaken(_))
    ));
    accounts.revoke(&first.id).expect("revoke");
    accounts
        .add(new("ana", Role::Officer), "x")
        .expect("name free again");
    assert!(expiry_in_days(Some(0), 0).is_err());
    assert!(expiry_in_days(Some(MAX_EXPIRY_DAYS + 1), 0).is_err());
    assert_eq!(expiry_in_days(None, 0).expect("default"), 365 * DAY_MS);
}
