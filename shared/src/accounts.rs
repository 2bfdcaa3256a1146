//! Account operations shared by the pages (sign-in, sign-up, connected applications) and the
//! admin command: creating a user, checking a password with lockout, setting a password, and
//! revoking what a user has granted.

use crate::oauth::{normalise_email, password};
use crate::store::{Store, StoreError, Timestamp, User, new_id};

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Not a plausible e-mail address.
    #[error("not a valid e-mail address")]
    InvalidEmail,
    /// Too short or too long.
    #[error("the password must have {min} to {max} characters", min = password::MIN_LEN, max = password::MAX_LEN)]
    WeakPassword,
    /// The address is taken.
    #[error("an account with this e-mail address exists")]
    Exists,
    /// No such user.
    #[error("no account with this e-mail address")]
    NotFound,
    /// Hashing failed.
    #[error("password hashing failed")]
    Hashing,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

fn check_password(password: &str) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if chars < password::MIN_LEN || password.len() > password::MAX_LEN {
        return Err(AccountError::WeakPassword);
    }
    Ok(())
}

async fn hash(password: &str) -> Result<String, AccountError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or(AccountError::Hashing)
}

/// Creates a user with an argon2id-hashed password.
pub async fn create_user(
    store: &dyn Store,
    email: &str,
    password: &str,
    now: Timestamp,
) -> Result<User, AccountError> {
    let email = normalise_email(email).ok_or(AccountError::InvalidEmail)?;
    check_password(password)?;
    let user = User {
        user_id: new_id(),
        email,
        password_hash: hash(password).await?,
        created_at: now,
        updated_at: now,
        failed_sign_ins: 0,
        locked_until: None,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict) => Err(AccountError::Exists),
        Err(err) => Err(AccountError::Store(err)),
    }
}

/// The user with this e-mail address.
pub async fn find(store: &dyn Store, email: &str) -> Result<User, AccountError> {
    let email = normalise_email(email).ok_or(AccountError::InvalidEmail)?;
    store
        .get_user_by_email(&email)
        .await
        .map_err(AccountError::Store)?
        .ok_or(AccountError::NotFound)
}

/// Sets a user's password.
pub async fn set_password(
    store: &dyn Store,
    email: &str,
    password: &str,
    now: Timestamp,
) -> Result<User, AccountError> {
    check_password(password)?;
    let mut user = find(store, email).await?;
    user.password_hash = hash(password).await?;
    user.updated_at = now;
    user.failed_sign_ins = 0;
    user.locked_until = None;
    store
        .update_user(&user)
        .await
        .map_err(AccountError::Store)?;
    Ok(user)
}

/// Revokes every grant of a user and withdraws their consents: every client must ask again.
/// Returns (grants revoked, consents withdrawn).
pub async fn revoke_everything(
    store: &dyn Store,
    user: &User,
    now: Timestamp,
) -> Result<(usize, usize), AccountError> {
    let grants = store
        .list_grants(&user.user_id, now)
        .await
        .map_err(AccountError::Store)?;
    for grant in &grants {
        store
            .revoke_grant(&grant.grant_id)
            .await
            .map_err(AccountError::Store)?;
    }
    let consents = store
        .list_consents(&user.user_id)
        .await
        .map_err(AccountError::Store)?;
    for consent in &consents {
        store
            .delete_consent(&consent.user_id, &consent.client_id)
            .await
            .map_err(AccountError::Store)?;
    }
    Ok((grants.len(), consents.len()))
}

/// Withdraws a user's consent for one client and revokes the user's grants to it: the
/// client's tokens stop working and its next authorization asks again. Returns (grants
/// revoked, whether a consent was withdrawn).
pub async fn disconnect(
    store: &dyn Store,
    user_id: &str,
    client_id: &str,
    now: Timestamp,
) -> Result<(Vec<String>, bool), StoreError> {
    let mut revoked = Vec::new();
    for grant in store.list_grants(user_id, now).await? {
        if grant.client_id == client_id && store.revoke_grant(&grant.grant_id).await? {
            revoked.push(grant.grant_id);
        }
    }
    let withdrawn = store.delete_consent(user_id, client_id).await?;
    Ok((revoked, withdrawn))
}

/// The outcome of a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    /// The password is right.
    Verified(User),
    /// Unknown address or wrong password (which of the two is not told).
    Refused,
    /// Too many failures: locked for this many more minutes.
    Locked(i64),
}

/// Checks `password` for the (normalised) `email`, counting failures towards a lockout. An
/// unknown address costs as much time as a wrong password.
pub async fn sign_in(
    store: &dyn Store,
    email: &str,
    password: &str,
    now: Timestamp,
) -> Result<SignIn, StoreError> {
    if password.len() > password::MAX_LEN {
        return Ok(SignIn::Refused);
    }
    let user = store.get_user_by_email(email).await?;
    if let Some(seconds) = user.as_ref().and_then(|u| locked_for(u, now)) {
        return Ok(SignIn::Locked((seconds + 59) / 60));
    }
    let (password, stored) = (
        password.to_owned(),
        user.as_ref().map(|u| u.password_hash.clone()),
    );
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some(phc) => password::verify(&password, &phc),
        None => {
            password::verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(user) = user else {
        return Ok(SignIn::Refused);
    };
    record_sign_in(store, &user, verified, now).await?;
    Ok(if verified {
        SignIn::Verified(user)
    } else {
        SignIn::Refused
    })
}

/// Failed sign-ins that lock an account.
pub const MAX_FAILED_SIGN_INS: u32 = 5;
/// How long a locked account refuses sign-in, seconds.
pub const LOCKOUT_SECONDS: i64 = 900;

/// Seconds until a locked account may sign in again, or `None` when it is not locked.
pub fn locked_for(user: &User, now: Timestamp) -> Option<i64> {
    user.locked_until
        .filter(|until| *until > now)
        .map(|until| until - now)
}

/// Records a sign-in attempt: a failure counts towards a lockout of [`LOCKOUT_SECONDS`] after
/// [`MAX_FAILED_SIGN_INS`] in a row; a success clears the count. Concurrent attempts may
/// undercount by a few, which only delays the lockout.
pub async fn record_sign_in(
    store: &dyn Store,
    user: &User,
    succeeded: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut changed = user.clone();
    if succeeded {
        if user.failed_sign_ins == 0 && user.locked_until.is_none() {
            return Ok(());
        }
        changed.failed_sign_ins = 0;
        changed.locked_until = None;
    } else {
        changed.failed_sign_ins += 1;
        if changed.failed_sign_ins >= MAX_FAILED_SIGN_INS {
            changed.failed_sign_ins = 0;
            changed.locked_until = Some(now + LOCKOUT_SECONDS);
        }
    }
    store.update_user(&changed).await
}
