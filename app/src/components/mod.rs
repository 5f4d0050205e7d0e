pub mod hydration;
pub mod layout;
pub mod menu;
pub mod status;
