#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <utility>

namespace mqbase::broker {

// A double-ended queue in one ring buffer, for a session's messages in flight: taking the
// oldest (the usual acknowledgement, in order) is O(1) where a vector moved every element
// after it, and an empty ring allocates nothing (std::deque allocates even when empty, and
// most sessions are idle). Erasing from the middle moves the shorter side. Iterators are
// random access and stay valid until the ring is changed.
template <typename T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& o) noexcept : buf_(o.buf_), cap_(o.cap_), head_(o.head_), size_(o.size_) {
    o.buf_ = nullptr;
    o.cap_ = o.head_ = o.size_ = 0;
  }
  Ring& operator=(Ring&& o) noexcept {
    if (this != &o) {
      release();
      std::swap(buf_, o.buf_);
      std::swap(cap_, o.cap_);
      std::swap(head_, o.head_);
      std::swap(size_, o.size_);
    }
    return *this;
  }
  ~Ring() { release(); }

  template <typename R, typename V>
  class Iter {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = V*;
    using reference = V&;
    Iter() = default;
    Iter(R* r, size_t i) : r_(r), i_(i) {}
    operator Iter<const Ring, const T>() const { return {r_, i_}; }  // NOLINT: as std containers
    reference operator*() const { return r_->at(i_); }
    pointer operator->() const { return &r_->at(i_); }
    reference operator[](difference_type n) const { return r_->at(i_ + n); }
    Iter& operator++() { ++i_; return *this; }
    Iter operator++(int) { Iter t = *this; ++i_; return t; }
    Iter& operator--() { --i_; return *this; }
    Iter operator--(int) { Iter t = *this; --i_; return t; }
    Iter& operator+=(difference_type n) { i_ += n; return *this; }
    Iter& operator-=(difference_type n) { i_ -= n; return *this; }
    friend Iter operator+(Iter a, difference_type n) { return a += n; }
    friend Iter operator+(difference_type n, Iter a) { return a += n; }
    friend Iter operator-(Iter a, difference_type n) { return a -= n; }
    friend difference_type operator-(const Iter& a, const Iter& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const Iter& a, const Iter& b) { return a.i_ == b.i_; }
    friend bool operator!=(const Iter& a, const Iter& b) { return a.i_ != b.i_; }
    friend bool operator<(const Iter& a, const Iter& b) { return a.i_ < b.i_; }
    friend bool operator>(const Iter& a, const Iter& b) { return a.i_ > b.i_; }
    friend bool operator<=(const Iter& a, const Iter& b) { return a.i_ <= b.i_; }
    friend bool operator>=(const Iter& a, const Iter& b) { return a.i_ >= b.i_; }
    size_t index() const { return i_; }

   private:
    R* r_ = nullptr;
    size_t i_ = 0;
  };
  using iterator = Iter<Ring, T>;
  using const_iterator = Iter<const Ring, const T>;
  using value_type = T;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  iterator begin() { return {this, 0}; }
  iterator end() { return {this, size_}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }
  T& front() { return at(0); }
  T& back() { return at(size_ - 1); }
  const T& front() const { return at(0); }
  const T& back() const { return at(size_ - 1); }
  T& operator[](size_t i) { return at(i); }
  const T& operator[](size_t i) const { return at(i); }

  void push_back(T v) {
    if (size_ == cap_) grow();
    new (slot(size_)) T(std::move(v));
    ++size_;
  }
  template <typename... A>
  T& emplace_back(A&&... args) {
    if (size_ == cap_) grow();
    T* p = new (slot(size_)) T{std::forward<A>(args)...};
    ++size_;
    return *p;
  }
  void pop_front() {
    slot(0)->~T();
    head_ = (head_ + 1) & (cap_ - 1);
    if (--size_ == 0) head_ = 0;
  }
  void pop_back() {
    slot(size_ - 1)->~T();
    --size_;
  }
  // Removes *pos; returns the iterator to the element that followed it.
  iterator erase(const_iterator pos) {
    size_t i = pos.index();
    if (i < size_ / 2) {
      for (size_t k = i; k > 0; --k) at(k) = std::move(at(k - 1));
      pop_front();
    } else {
      for (size_t k = i; k + 1 < size_; ++k) at(k) = std::move(at(k + 1));
      pop_back();
    }
    return {this, i};
  }
  void clear() {
    while (size_ > 0) pop_back();
    head_ = 0;
  }

 private:
  T* slot(size_t i) const { return buf_ + ((head_ + i) & (cap_ - 1)); }
  T& at(size_t i) { return *slot(i); }
  const T& at(size_t i) const { return *slot(i); }

  void grow() {
    size_t cap = cap_ == 0 ? 4 : cap_ * 2;  // a power of two: slot() masks
    T* buf = std::allocator<T>().allocate(cap);
    for (size_t i = 0; i < size_; ++i) {
      new (buf + i) T(std::move(at(i)));
      slot(i)->~T();
    }
    if (buf_) std::allocator<T>().deallocate(buf_, cap_);
    buf_ = buf;
    cap_ = cap;
    head_ = 0;
  }
  void release() {
    clear();
    if (buf_) std::allocator<T>().deallocate(buf_, cap_);
    buf_ = nullptr;
    cap_ = 0;
  }

  T* buf_ = nullptr;
  size_t cap_ = 0;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace mqbase::broker
