//! The records' exports (docs/records.md), offered where records are read: the audit trail and
//! a subscription's delivery log.

use leptos::prelude::*;

/// The records' exports: a range, which records, which form. A plain GET form: the browser
/// downloads what the server sends (or shows its error in words).
#[component]
pub fn ExportRecords(
    /// The records chosen at first: `audit` or `deliveries`.
    chain: &'static str,
) -> impl IntoView {
    // Which records picks the address; before the page's code runs the form exports the
    // records it was shown with.
    let chain = RwSignal::new(String::from(chain));
    view! {
        <section class="card export" aria-labelledby="export-title">
            <h2 id="export-title">"Export records"</h2>
            <p class="muted">"A copy of the organisation's audit trail or delivery log (every subscription) for a range of days (UTC): JSON Lines with every record's hash and a signed seal, checked offline with "<code>"labhook verify-export"</code>", or a PDF to read and file (up to 5,000 records)."</p>
            <form class="export-form" method="get" action=move || format!("/admin/records/{}/export", chain.get())>
                <label>"Records"
                    <select name="records" on:change=move |ev| chain.set(event_target_value(&ev))>
                        <option value="audit" selected=chain.get_untracked() == "audit">"Audit trail"</option>
                        <option value="deliveries" selected=chain.get_untracked() == "deliveries">"Delivery log"</option>
                    </select>
                </label>
                <label>"From" <input type="date" name="from" required/></label>
                <label>"To (exclusive)" <input type="date" name="to"/></label>
                <label>"Format"
                    <select name="format">
                        <option value="pdf">"PDF"</option>
                        <option value="jsonl">"JSON Lines"</option>
                    </select>
                </label>
                <button type="submit">"Export"</button>
            </form>
        </section>
    }
}
