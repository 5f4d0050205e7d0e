pub mod hydration;
pub mod layout;
pub mod menu;
pub mod modal;
pub mod status;
pub mod switch;
pub mod time;
