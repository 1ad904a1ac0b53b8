// Room inside an object for one Asio operation, so that operation needs no heap block. The
// epoll transport's read completions (a read done at once, a cancelled wait) live here: one
// slot per connection, since at most one read-side operation is in flight.
#pragma once

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <new>
#include <utility>

namespace lithe::net {

template <std::size_t Size>
class OpSlot {
 public:
  static constexpr std::size_t size = Size;

  void* allocate(std::size_t n) {
    if (!used_ && n <= Size) {
      used_ = true;
      return storage_;
    }
    return ::operator new(n);  // in use already (never expected) or too small: the heap
  }
  bool in_use() const { return used_; }
  void deallocate(void* p) {
    if (p == storage_)
      used_ = false;
    else
      ::operator delete(p);
  }

 private:
  alignas(void*) unsigned char storage_[Size];  // Asio's operations hold pointers, no wider
  bool used_ = false;
};

// The allocator Asio sees (via bind_allocator) for an operation placed in an OpSlot.
template <class T, std::size_t Size>
struct SlotAllocator {
  using value_type = T;
  OpSlot<Size>* slot;

  template <class U>
  struct rebind {
    using other = SlotAllocator<U, Size>;
  };

  explicit SlotAllocator(OpSlot<Size>* s) noexcept : slot(s) {}
  template <class U>
  SlotAllocator(const SlotAllocator<U, Size>& other) noexcept : slot(other.slot) {}
  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > alignof(void*))
      return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignof(T)}));
    else
      return static_cast<T*>(slot->allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept {
    if constexpr (alignof(T) > alignof(void*))
      ::operator delete (p, std::align_val_t{alignof(T)});
    else
      slot->deallocate(p);
  }
  template <class U>
  bool operator==(const SlotAllocator<U, Size>& other) const noexcept {
    return slot == other.slot;
  }
};

// Posts handler to the executor's loop with its operation placed in slot.
template <class Executor, std::size_t Size, class Handler>
void post_in(OpSlot<Size>& slot, const Executor& ex, Handler&& handler) {
  boost::asio::post(ex, boost::asio::bind_allocator(SlotAllocator<void, Size>(&slot),
                                                    std::forward<Handler>(handler)));
}

}  // namespace lithe::net
