//! The web console: Marathon's UI, served by strata itself at :8080.
//!
//! Why it exists: the seed's "connect to localhost:8080" opens Marathon's UI; strata's opens this.
//! It is server-rendered HTML (maud) with a little plain JavaScript for live updates, and it is an
//! ordinary client of the API: every page is built with the signed-in user's own token, so the
//! store's RBAC decides what each user sees and may do.
