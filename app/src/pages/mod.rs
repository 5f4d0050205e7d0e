pub mod admin;
pub mod audit;
pub mod devices;
pub mod home;
pub mod not_found;
pub mod people;
pub mod subscriptions;
pub mod tokens;
