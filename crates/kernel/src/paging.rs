//! Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out.
//!
//! Lists are ordered by UUIDv7 id, so a cursor is simply the last id of the previous page, encoded
//! opaquely so clients do not build cursors themselves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Uuid);

impl Cursor {
    /// The cursor pointing after `id`.
    #[must_use]
    pub const fn after(id: Uuid) -> Self {
        Self(id)
    }

    /// The id the next page starts after.
    #[must_use]
    pub const fn id(&self) -> Uuid {
        self.0
    }

    /// The opaque form handed to clients.
    #[must_use]
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// Parses the opaque form; anything else is `InvalidCursor`.
    pub fn decode(raw: &str) -> Result<Self, PagingError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| PagingError::InvalidCursor)?;
        let uuid = Uuid::from_slice(&bytes).map_err(|_| PagingError::InvalidCursor)?;
        Ok(Self(uuid))
    }
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    after: Option<Cursor>,
}

/// Why paging parameters were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    /// The limit is outside `1..=MAX_LIMIT`.
    #[error("limit must be between 1 and {max}", max = PageRequest::MAX_LIMIT)]
    InvalidLimit,
    /// The cursor was not produced by this API.
    #[error("the cursor is malformed")]
    InvalidCursor,
}

impl PageRequest {
    /// The page size when the client gives none.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 200;

    /// Validates `?limit=&cursor=`.
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, PagingError> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(PagingError::InvalidLimit);
        }
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        Ok(Self { limit, after })
    }

    /// The first page with the default size.
    #[must_use]
    pub const fn first() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            after: None,
        }
    }

    /// The first page with the largest size (for pages that show one list whole, like a
    /// console's member list).
    #[must_use]
    pub const fn largest_first() -> Self {
        Self {
            limit: Self::MAX_LIMIT,
            after: None,
        }
    }

    /// The page size.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// How many rows a store should fetch: one more than the limit, to learn whether a next page
    /// exists.
    #[must_use]
    pub const fn fetch_limit(&self) -> u64 {
        self.limit as u64 + 1
    }

    /// The id after which this page starts.
    #[must_use]
    pub fn after(&self) -> Option<Uuid> {
        self.after.map(|c| c.id())
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, in id order.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched with [`PageRequest::fetch_limit`].
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, id_of: impl Fn(&T) -> Uuid) -> Self {
        let limit = request.limit() as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| Cursor::after(id_of(last)).encode())
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// Converts the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let id = Uuid::now_v7();
        let encoded = Cursor::after(id).encode();
        assert_eq!(Cursor::decode(&encoded).unwrap().id(), id);
        assert_eq!(Cursor::decode("!!"), Err(PagingError::InvalidCursor));
        assert_eq!(Cursor::decode("AAAA"), Err(PagingError::InvalidCursor));
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(
            PageRequest::new(Some(0), None),
            Err(PagingError::InvalidLimit)
        );
        assert_eq!(
            PageRequest::new(Some(201), None),
            Err(PagingError::InvalidLimit)
        );
        assert_eq!(PageRequest::new(None, None).unwrap().limit(), 50);
    }

    #[test]
    fn a_full_page_carries_a_cursor_to_the_next() {
        let request = PageRequest::new(Some(2), None).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows(ids.clone(), &request, |id| *id);
        assert_eq!(page.items, ids[..2].to_vec());
        let next = PageRequest::new(Some(2), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after(), Some(ids[1]));
        let last = Page::from_rows(ids[2..].to_vec(), &next, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
