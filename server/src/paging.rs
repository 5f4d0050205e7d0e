//! One page of a long list (the overview, a delivery log, the audit trail): 1-based page
//! numbers, a fixed size per list, and the total for the pager.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_start_at_one() {
        let p = PageRequest::new(0, 25);
        assert_eq!((p.page(), p.limit(), p.offset()), (1, 25, 0));
        assert_eq!(PageRequest::new(3, 25).offset(), 50);
    }
}
