//! Times as people read them. The server renders UTC (it cannot know the reader's time zone);
//! once the page is interactive the browser shows local time.

use leptos::{either::Either, prelude::*};

use crate::components::hydration::use_hydrated;

#[component]
pub fn Time(ms: i64) -> impl IntoView {
    let hydrated = use_hydrated();
    let (date, time) = utc_parts(ms);
    let iso = format!("{date}T{time}Z");
    let utc = format!("{date} {time} UTC");
    view! {
        <time datetime=iso>{move || if hydrated.get() { local(ms) } else { utc.clone() }}</time>
    }
}

/// `Time` for an optional timestamp, a dash when there is none.
#[component]
pub fn MaybeTime(ms: Option<i64>) -> impl IntoView {
    match ms {
        Some(ms) => Either::Left(view! { <Time ms=ms/> }),
        None => Either::Right("—"),
    }
}

/// ("2026-11-24", "09:30:05") in UTC (Howard Hinnant's days-to-civil algorithm).
pub fn utc_parts(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60),
    )
}

fn local(ms: i64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date(),
            d.get_hours(),
            d.get_minutes(),
            d.get_seconds()
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let (date, time) = utc_parts(ms);
        format!("{date} {time} UTC")
    }
}

#[cfg(test)]
mod tests {
    use super::utc_parts;

    #[test]
    fn formats_utc() {
        assert_eq!(utc_parts(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(
            utc_parts(1_795_512_600_250),
            ("2026-11-24".into(), "09:30:00".into())
        );
        assert_eq!(utc_parts(951_782_400_000).0, "2000-02-29");
    }
}
