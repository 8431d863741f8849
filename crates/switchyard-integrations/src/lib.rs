//! Integrations: the provider accounts a user connected, and the access tokens Switchyard
//! reads them with.
//!
//! An [`Integration`] belongs to one user and one provider and names the data types it
//! reads and its state ([`IntegrationState`]: active, or needing the user to connect
//! again). Its refresh token rests only sealed ([`switchyard_auth::Sealed`],
//! bound to the integration's id), in an [`IntegrationStore`] whose every call is scoped
//! to the owner (`RedbIntegrationStore`: `{data_dir}/integrations.redb`).
//!
//! [`Connector`] connects (the grant is redeemed at once, so a bad one is refused at
//! connect time), hands out access tokens refreshed before they expire (keeping a rotated
//! refresh token), marks an integration `needs_reauth` when the provider refuses its grant,
//! and disconnects. [`Sync`] reads a Microsoft integration feed by feed (a mail folder, a
//! to-do list, the calendar, the contacts, the drive): its history as one resumable job
//! with exact counts, then its changes as they stream, reconciling deletions after an
//! expired cursor through each feed's ledger of items. [`Notifications`] keeps each
//! feed's change-notification subscription and checks webhook deliveries.
//!
//! **Boundary:** no HTTP server or broker; provider calls go through
//! `switchyard-providers`.

mod connector;
mod embedded;
mod notifications;
mod store;
mod sync;

pub use connector::{ConnectRequest, Connector, Grant, ProviderEndpoints};
pub use embedded::RedbIntegrationStore;
pub use notifications::{Forged, Notifications, Signal};
pub use store::{
    DataType, Feed, FeedSubscription, Integration, IntegrationError, IntegrationErrorKind,
    IntegrationState, IntegrationStore, JobFeeds, LedgerItem, Provider, StoredIntegration,
};
pub use sync::{BACKFILL_KIND, BackfillOptions, CONCURRENT_PAGES, PageCounts, Sync, Window};
