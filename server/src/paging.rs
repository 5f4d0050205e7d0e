//! One page of a long list (the overview, a delivery log, the audit trail): 1-based page
//! numbers, a fixed size per list, and the total for the pager — or, for a list that may hold
//! millions of rows (a delivery log), a slice before or after a row, found in the index.

/// Which page to read, and how long a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
}

impl PageRequest {
    /// Page numbers start at 1; 0 reads as 1.
    pub fn new(page: u32, per_page: u32) -> Self {
        Self {
            page: page.max(1),
            per_page: per_page.max(1),
        }
    }

    pub fn page(self) -> u32 {
        self.page
    }

    /// For `LIMIT`.
    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }

    /// For `OFFSET`.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    pub fn of<T>(self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            page: self.page,
            per_page: self.per_page,
            total,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        }
    }
}

/// Where a slice of a newest-first list starts (keyset paging: the thousandth page costs what
/// the first does, where an `OFFSET` reads every row it skips and a count reads them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyset {
    /// The rows older than this id, newest first.
    Before(i64),
    /// The rows newer than this id (the slice before), read oldest first and turned round.
    After(i64),
}

impl Keyset {
    /// The first slice: everything is older than `i64::MAX`.
    pub const NEWEST: Keyset = Keyset::Before(i64::MAX);

    /// The value for the `$n` of [`Keyset::condition`].
    pub fn id(self) -> i64 {
        match self {
            Keyset::Before(id) | Keyset::After(id) => id,
        }
    }

    /// `column < $n`, or `>` for the rows after: a range in the index, read in [`Keyset::order`].
    pub fn condition(self, column: &str, parameter: u32) -> String {
        match self {
            Keyset::Before(_) => format!("{column} < ${parameter}"),
            Keyset::After(_) => format!("{column} > ${parameter}"),
        }
    }

    pub fn order(self, column: &str) -> String {
        match self {
            Keyset::Before(_) => format!("{column} DESC"),
            Keyset::After(_) => format!("{column} ASC"),
        }
    }

    /// For `LIMIT`: one row more than a slice, to know whether there are more.
    pub fn limit(per_page: u32) -> i64 {
        i64::from(per_page) + 1
    }

    /// The rows read with [`Keyset::limit`], newest first, and which way there are more.
    pub fn slice<T>(self, mut rows: Vec<T>, per_page: u32) -> Slice<T> {
        let more = rows.len() > per_page as usize;
        rows.truncate(per_page as usize);
        match self {
            Keyset::Before(id) => Slice {
                items: rows,
                newer: id != i64::MAX,
                older: more,
            },
            Keyset::After(_) => {
                rows.reverse();
                Slice {
                    items: rows,
                    newer: more,
                    older: true,
                }
            }
        }
    }
}

/// A slice of a newest-first list, and whether there are newer and older rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice<T> {
    pub items: Vec<T>,
    pub newer: bool,
    pub older: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_knows_what_lies_either_side() {
        let first = Keyset::NEWEST.slice(vec![9, 8, 7], 2);
        assert_eq!(
            (first.items, first.newer, first.older),
            (vec![9, 8], false, true)
        );
        let last = Keyset::Before(7).slice(vec![6], 2);
        assert_eq!((last.items, last.newer, last.older), (vec![6], true, false));
        // Read oldest first after 6: 7, 8 and one more — shown newest first.
        let back = Keyset::After(6).slice(vec![7, 8, 9], 2);
        assert_eq!(
            (back.items, back.newer, back.older),
            (vec![8, 7], true, true)
        );
        assert_eq!(Keyset::After(6).condition("d.id", 14), "d.id > $14");
        assert_eq!(Keyset::NEWEST.order("d.id"), "d.id DESC");
    }

    #[test]
    fn pages_start_at_one() {
        let p = PageRequest::new(0, 25);
        assert_eq!((p.page(), p.limit(), p.offset()), (1, 25, 0));
        assert_eq!(PageRequest::new(3, 25).offset(), 50);
    }
}
