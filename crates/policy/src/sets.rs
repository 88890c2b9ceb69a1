//! Small fixed sets of the closed lists (categories, purposes, roles) as bit sets.
//!
//! They exist so that `decide` stays allocation-free and a consent's or a scope's coverage is one
//! AND. They must never hold anything but the closed lists of `domain`: a set is the enum's
//! declaration order, bit for bit.

use std::fmt;

use domain::{Category, Purpose, Role};

macro_rules! bit_set {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u8);

        impl $name {
            /// The empty set.
            pub const EMPTY: $name = $name(0);

            /// Every value of the list.
            pub fn all() -> $name {
                <$item>::ALL.iter().copied().collect()
            }

            const fn bit(item: $item) -> u8 {
                1 << (item as u8)
            }

            pub const fn contains(self, item: $item) -> bool {
                self.0 & Self::bit(item) != 0
            }

            #[must_use]
            pub const fn with(self, item: $item) -> $name {
                $name(self.0 | Self::bit(item))
            }

            #[must_use]
            pub const fn without(self, item: $item) -> $name {
                $name(self.0 & !Self::bit(item))
            }

            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            pub const fn len(self) -> usize {
                self.0.count_ones() as usize
            }

            #[must_use]
            pub const fn union(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            #[must_use]
            pub const fn intersection(self, other: $name) -> $name {
                $name(self.0 & other.0)
            }

            #[must_use]
            pub const fn difference(self, other: $name) -> $name {
                $name(self.0 & !other.0)
            }

            pub const fn is_subset(self, other: $name) -> bool {
                self.0 & !other.0 == 0
            }

            /// The members, in declaration order.
            pub fn iter(self) -> impl Iterator<Item = $item> {
                <$item>::ALL.iter().copied().filter(move |item| self.contains(*item))
            }
        }

        impl FromIterator<$item> for $name {
            fn from_iter<I: IntoIterator<Item = $item>>(iter: I) -> $name {
                iter.into_iter().fold($name::EMPTY, $name::with)
            }
        }

        impl<const N: usize> From<[$item; N]> for $name {
            fn from(items: [$item; N]) -> $name {
                items.into_iter().collect()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_set().entries(self.iter().map(|item| item.as_str())).finish()
            }
        }
    };
}

bit_set!(
    /// A set of plan categories.
    CategorySet, Category
);
bit_set!(
    /// A set of purposes (doelbinding).
    PurposeSet, Purpose
);
bit_set!(
    /// A set of roles.
    RoleSet, Role
);
