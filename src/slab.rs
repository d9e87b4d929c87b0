//! A slab: values in a vector at stable `u32` slots, with freed slots reused, so a hot
//! structure can refer to a value by a compact index and nothing is allocated per value once
//! the vector has grown. Used by the event queue (event payloads) and the client (BeatInfos).

pub struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `v` and returns its slot (a freed one if there is any).
    pub fn insert(&mut self, v: T) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.items[slot as usize] = Some(v);
                slot
            }
            None => {
                self.items.push(Some(v));
                (self.items.len() - 1) as u32
            }
        }
    }

    pub fn get(&self, slot: u32) -> Option<&T> {
        self.items.get(slot as usize)?.as_ref()
    }

    /// Where `slot` lives (stored or free), without reading it: for cache hints.
    pub fn slot(&self, slot: u32) -> Option<*const Option<T>> {
        self.items.get(slot as usize).map(|s| s as *const Option<T>)
    }

    /// Takes the value out of `slot` and frees the slot.
    pub fn remove(&mut self, slot: u32) -> Option<T> {
        let v = self.items.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(v)
    }

    /// Every stored value, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }

    /// Slots ever used (stored or free).
    pub fn capacity(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn freed_slots_are_reused_and_removal_is_once() {
        let mut s = Slab::default();
        let (a, b) = (s.insert("a"), s.insert("b"));
        assert_eq!((a, b), (0, 1));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None, "an empty slot is not freed twice");
        assert_eq!(s.get(a), None);
        assert_eq!(s.insert("c"), a);
        assert_eq!(s.insert("d"), 2, "one free slot, reused once");
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), ["c", "b", "d"]);
        assert_eq!(s.capacity(), 3);
        assert_eq!(s.get(7), None);
    }
}
