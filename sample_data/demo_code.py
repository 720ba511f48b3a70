"""Small Python problems for the demo trace's code-generation jobs, written for the demo.

Each problem has a few paraphrased one-line requests (the same problem asked differently, which is what a
semantic cache can exploit), a signature, three ``assert`` tests, one correct solution and subtly wrong
ones (off-by-one, a missed edge case, a wrong order) that fail at least one test. The generator checks
that claim by running every program, so a mislabelled variant fails the build rather than the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    pid: str
    signature: str
    requests: tuple[str, ...]
    tests: tuple[str, str, str]
    correct: str
    wrong: tuple[str, ...]
    difficulty: int          # 1 (easy) .. 5 (hard)

    @property
    def func(self) -> str:
        return self.signature.split("(")[0].removeprefix("def ").strip()

    @property
    def reference(self) -> str:
        return "\n".join(self.tests)

    def usage(self) -> str:
        """A print call on the first test's arguments, as models like to add."""
        call = re.match(r"assert (.+?) ==", self.tests[0])
        expr = call.group(1) if call else f"{self.func}()"
        return f"print({expr})"


def _p(pid, signature, requests, tests, correct, wrong, difficulty) -> Problem:
    return Problem(pid, signature, tuple(requests), tuple(tests), correct.strip("\n"),
                   tuple(w.strip("\n") for w in wrong), difficulty)


PROBLEMS: tuple[Problem, ...] = (
    _p("count_vowels", "def count_vowels(s):", (
        "Write a function that counts the vowels in a string, ignoring case.",
        "Create a Python function returning how many vowels (a, e, i, o, u) a string contains, upper or lower case.",
        "Count the number of vowel characters in the given text, case-insensitively.",
    ), (
        'assert count_vowels("hello") == 2',
        'assert count_vowels("HELLO World") == 3',
        'assert count_vowels("rhythm") == 0',
    ), """
def count_vowels(s):
    return sum(1 for ch in s.lower() if ch in "aeiou")
""", ("""
def count_vowels(s):
    return sum(1 for ch in s if ch in "aeiou")
""", """
def count_vowels(s):
    return sum(1 for ch in s.lower() if ch in "aeiouy")
"""), 1),
    _p("second_largest", "def second_largest(nums):", (
        "Write a function to find the second largest distinct number in a list.",
        "Return the second-biggest value of a list of integers, ignoring duplicates of the maximum.",
        "Given a list of numbers, find the largest value that is strictly smaller than the maximum.",
    ), (
        "assert second_largest([1, 5, 3, 4]) == 4",
        "assert second_largest([7, 7, 3]) == 3",
        "assert second_largest([-2, -1, -5]) == -2",
    ), """
def second_largest(nums):
    distinct = sorted(set(nums))
    return distinct[-2]
""", ("""
def second_largest(nums):
    return sorted(nums)[-2]
""", """
def second_largest(nums):
    distinct = sorted(set(nums), reverse=True)
    return distinct[-2]
"""), 2),
    _p("is_palindrome", "def is_palindrome(s):", (
        "Write a function that checks whether a string is a palindrome, ignoring case and non-alphanumeric characters.",
        "Check if a sentence reads the same backwards, considering only letters and digits and ignoring case.",
        "Return True when the given phrase is a palindrome once punctuation, spaces and case are ignored.",
    ), (
        'assert is_palindrome("A man, a plan, a canal: Panama") == True',
        'assert is_palindrome("race a car") == False',
        'assert is_palindrome("No lemon, no melon") == True',
    ), """
def is_palindrome(s):
    cleaned = [ch.lower() for ch in s if ch.isalnum()]
    return cleaned == cleaned[::-1]
""", ("""
def is_palindrome(s):
    cleaned = [ch for ch in s if ch.isalnum()]
    return cleaned == cleaned[::-1]
""", """
def is_palindrome(s):
    s = s.lower()
    return s == s[::-1]
"""), 2),
    _p("running_sum", "def running_sum(nums):", (
        "Write a function that returns the running (prefix) sums of a list.",
        "Compute the cumulative sum of a list of numbers, element by element.",
        "Return a list where each position holds the sum of all elements up to and including it.",
    ), (
        "assert running_sum([1, 2, 3, 4]) == [1, 3, 6, 10]",
        "assert running_sum([]) == []",
        "assert running_sum([5]) == [5]",
    ), """
def running_sum(nums):
    out, total = [], 0
    for x in nums:
        total += x
        out.append(total)
    return out
""", ("""
def running_sum(nums):
    out, total = [], 0
    for x in nums:
        out.append(total)
        total += x
    return out
""", """
def running_sum(nums):
    return [sum(nums[:i]) for i in range(1, len(nums))] + [sum(nums)]
"""), 1),
    _p("chunk_list", "def chunk_list(lst, n):", (
        "Write a function to split a list into chunks of size n; the last chunk may be shorter.",
        "Break a list into consecutive pieces of length n, keeping any leftover elements as a final piece.",
        "Divide the list into sublists of n items each (the final sublist can hold fewer).",
    ), (
        "assert chunk_list([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]",
        "assert chunk_list([1, 2, 3], 3) == [[1, 2, 3]]",
        "assert chunk_list([], 4) == []",
    ), """
def chunk_list(lst, n):
    return [lst[i:i + n] for i in range(0, len(lst), n)]
""", ("""
def chunk_list(lst, n):
    return [lst[i:i + n] for i in range(0, len(lst) - n + 1, n)]
""", """
def chunk_list(lst, n):
    return [lst[i:i + n] for i in range(0, len(lst) - 1, n)]
"""), 2),
    _p("fizzbuzz", "def fizzbuzz(n):", (
        "Write a function returning the FizzBuzz sequence from 1 to n as a list of strings.",
        "Produce the list of FizzBuzz strings for the numbers 1 through n inclusive.",
        "For every integer from 1 to n, output 'Fizz', 'Buzz', 'FizzBuzz' or the number as a string.",
    ), (
        "assert fizzbuzz(5) == ['1', '2', 'Fizz', '4', 'Buzz']",
        "assert fizzbuzz(15)[-1] == 'FizzBuzz'",
        "assert fizzbuzz(0) == []",
    ), """
def fizzbuzz(n):
    out = []
    for i in range(1, n + 1):
        if i % 15 == 0:
            out.append("FizzBuzz")
        elif i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        else:
            out.append(str(i))
    return out
""", ("""
def fizzbuzz(n):
    out = []
    for i in range(1, n + 1):
        if i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        elif i % 15 == 0:
            out.append("FizzBuzz")
        else:
            out.append(str(i))
    return out
""", """
def fizzbuzz(n):
    out = []
    for i in range(1, n):
        if i % 15 == 0:
            out.append("FizzBuzz")
        elif i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        else:
            out.append(str(i))
    return out
"""), 1),
    _p("word_frequencies", "def word_frequencies(text):", (
        "Write a function that counts how often each word occurs in a text, case-insensitively.",
        "Return a dictionary mapping each lower-cased word of a sentence to its number of occurrences.",
        "Build a word-count dictionary for a string, treating 'Dog' and 'dog' as the same word.",
    ), (
        'assert word_frequencies("the cat and the hat")["the"] == 2',
        'assert word_frequencies("Dog dog DOG") == {"dog": 3}',
        'assert word_frequencies("") == {}',
    ), """
def word_frequencies(text):
    counts = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts
""", ("""
def word_frequencies(text):
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts
""", """
def word_frequencies(text):
    counts = {}
    for word in text.lower().split(" "):
        counts[word] = counts.get(word, 0) + 1
    return counts
"""), 1),
    _p("rotate_left", "def rotate_left(lst, k):", (
        "Write a function to rotate a list to the left by k positions; k may exceed the length.",
        "Shift the elements of a list k places to the left, wrapping around (k can be larger than the list).",
        "Left-rotate a list by k steps and return the new list.",
    ), (
        "assert rotate_left([1, 2, 3, 4, 5], 2) == [3, 4, 5, 1, 2]",
        "assert rotate_left([1, 2, 3], 4) == [2, 3, 1]",
        "assert rotate_left([], 3) == []",
    ), """
def rotate_left(lst, k):
    if not lst:
        return []
    k %= len(lst)
    return lst[k:] + lst[:k]
""", ("""
def rotate_left(lst, k):
    return lst[k:] + lst[:k]
""", """
def rotate_left(lst, k):
    if not lst:
        return []
    k %= len(lst)
    return lst[-k:] + lst[:-k]
""", """
def rotate_left(lst, k):
    k %= len(lst)
    return lst[k:] + lst[:k]
"""), 3),
    _p("flatten", "def flatten(nested):", (
        "Write a function to flatten an arbitrarily nested list of integers.",
        "Turn a list that may contain lists (to any depth) into one flat list, keeping the order.",
        "Recursively flatten nested lists into a single list of their elements.",
    ), (
        "assert flatten([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5]",
        "assert flatten([]) == []",
        "assert flatten([[1], [2]]) == [1, 2]",
    ), """
def flatten(nested):
    out = []
    for item in nested:
        if isinstance(item, list):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
""", ("""
def flatten(nested):
    out = []
    for item in nested:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out
""",), 3),
    _p("gcd", "def gcd(a, b):", (
        "Write a function to compute the greatest common divisor of two non-negative integers.",
        "Return the GCD of a and b.",
        "Find the largest integer that divides both given numbers.",
    ), (
        "assert gcd(12, 18) == 6",
        "assert gcd(7, 7) == 7",
        "assert gcd(0, 5) == 5",
    ), """
def gcd(a, b):
    while b:
        a, b = b, a % b
    return a
""", ("""
def gcd(a, b):
    best = 1
    for d in range(1, min(a, b)):
        if a % d == 0 and b % d == 0:
            best = d
    return best
""", """
def gcd(a, b):
    while b:
        a, b = b, a % b
    return b
"""), 2),
    _p("binary_search", "def binary_search(arr, x):", (
        "Write a function for binary search on a sorted list, returning the index of x or -1.",
        "Find the position of a value in a sorted array using binary search; return -1 when it is absent.",
        "Implement binary search: given a sorted list and a target, return the target's index or -1.",
    ), (
        "assert binary_search([1, 3, 5, 7, 9], 7) == 3",
        "assert binary_search([1, 3, 5, 7, 9], 9) == 4",
        "assert binary_search([2, 4], 3) == -1",
    ), """
def binary_search(arr, x):
    lo, hi = 0, len(arr) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if arr[mid] == x:
            return mid
        if arr[mid] < x:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
""", ("""
def binary_search(arr, x):
    lo, hi = 0, len(arr) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if arr[mid] == x:
            return mid
        if arr[mid] < x:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
""",), 3),
    _p("max_subarray_sum", "def max_subarray_sum(nums):", (
        "Write a function to find the largest sum of a contiguous non-empty subarray.",
        "Return the maximum possible sum of any contiguous slice of the list (at least one element).",
        "Given integers, possibly all negative, find the best sum over all non-empty contiguous runs.",
    ), (
        "assert max_subarray_sum([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6",
        "assert max_subarray_sum([-3, -1, -2]) == -1",
        "assert max_subarray_sum([5]) == 5",
    ), """
def max_subarray_sum(nums):
    best = current = nums[0]
    for x in nums[1:]:
        current = max(x, current + x)
        best = max(best, current)
    return best
""", ("""
def max_subarray_sum(nums):
    best = current = 0
    for x in nums:
        current = max(0, current + x)
        best = max(best, current)
    return best
""", """
def max_subarray_sum(nums):
    best = current = nums[0]
    for x in nums[1:]:
        current = max(x, current + x)
    best = max(best, current)
    return best
"""), 4),
    _p("roman_to_int", "def roman_to_int(s):", (
        "Write a function to convert a Roman numeral to an integer.",
        "Parse a Roman numeral string such as 'MCMXCIV' and return its integer value.",
        "Translate Roman numerals (with subtractive forms like IV and IX) into numbers.",
    ), (
        'assert roman_to_int("III") == 3',
        'assert roman_to_int("IX") == 9',
        'assert roman_to_int("MCMXCIV") == 1994',
    ), """
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(s):
        v = values[ch]
        if i + 1 < len(s) and values[s[i + 1]] > v:
            total -= v
        else:
            total += v
    return total
""", ("""
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[ch] for ch in s)
""", """
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(s):
        v = values[ch]
        if i + 1 < len(s) and values[s[i + 1]] >= v:
            total -= v
        else:
            total += v
    return total
"""), 4),
    _p("merge_sorted", "def merge_sorted(a, b):", (
        "Write a function to merge two sorted lists into one sorted list without calling sort.",
        "Combine two already-sorted lists into a single sorted list in linear time.",
        "Merge sorted lists a and b, as in the merge step of merge sort.",
    ), (
        "assert merge_sorted([1, 3, 5], [2, 4, 6]) == [1, 2, 3, 4, 5, 6]",
        "assert merge_sorted([1, 2], [3, 4, 5]) == [1, 2, 3, 4, 5]",
        "assert merge_sorted([], [1]) == [1]",
    ), """
def merge_sorted(a, b):
    i = j = 0
    out = []
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    out.extend(b[j:])
    return out
""", ("""
def merge_sorted(a, b):
    i = j = 0
    out = []
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    return out
""",), 3),
    _p("capitalize_words", "def capitalize_words(s):", (
        "Write a function that capitalizes the first letter of every space-separated word.",
        "Upper-case the first character of each word in a sentence, leaving the rest unchanged.",
        "Return the string with every word starting with a capital letter (words are split on spaces).",
    ), (
        'assert capitalize_words("hello world") == "Hello World"',
        'assert capitalize_words("it\'s a test") == "It\'s A Test"',
        'assert capitalize_words("") == ""',
    ), """
def capitalize_words(s):
    return " ".join(w[:1].upper() + w[1:] for w in s.split(" "))
""", ("""
def capitalize_words(s):
    return s.title()
""", """
def capitalize_words(s):
    return " ".join(w[0].upper() + w[1:] for w in s.split(" "))
"""), 3),
    _p("unique_in_order", "def unique_in_order(seq):", (
        "Write a function that removes consecutive duplicate elements from a sequence.",
        "Collapse runs of equal adjacent items into one item, returning a list.",
        "Return the items of a sequence without immediately repeated elements, keeping the original order.",
    ), (
        'assert unique_in_order("AAABBBCCDAABBB") == ["A", "B", "C", "D", "A", "B"]',
        "assert unique_in_order([1, 2, 2, 3, 3]) == [1, 2, 3]",
        'assert unique_in_order("") == []',
    ), """
def unique_in_order(seq):
    out = []
    for item in seq:
        if not out or out[-1] != item:
            out.append(item)
    return out
""", ("""
def unique_in_order(seq):
    return list(dict.fromkeys(seq))
""",), 2),
    _p("digit_sum", "def digit_sum(n):", (
        "Write a function to return the sum of the decimal digits of an integer (which may be negative).",
        "Add up the digits of a whole number; the sign of a negative number is ignored.",
        "Compute the digit sum of n, e.g. 1234 gives 10 and -56 gives 11.",
    ), (
        "assert digit_sum(1234) == 10",
        "assert digit_sum(-56) == 11",
        "assert digit_sum(0) == 0",
    ), """
def digit_sum(n):
    return sum(int(d) for d in str(abs(n)))
""", ("""
def digit_sum(n):
    return sum(int(d) for d in str(n))
""", """
def digit_sum(n):
    total = 0
    while n > 0:
        total += n % 10
        n //= 10
    return total
"""), 2),
    _p("is_prime", "def is_prime(n):", (
        "Write a function to check whether an integer is a prime number.",
        "Return True if n is prime and False otherwise.",
        "Decide whether the given whole number is prime.",
    ), (
        "assert is_prime(2) == True",
        "assert is_prime(9) == False",
        "assert is_prime(1) == False",
    ), """
def is_prime(n):
    if n < 2:
        return False
    for d in range(2, int(n ** 0.5) + 1):
        if n % d == 0:
            return False
    return True
""", ("""
def is_prime(n):
    if n < 2:
        return False
    for d in range(2, int(n ** 0.5)):
        if n % d == 0:
            return False
    return True
""", """
def is_prime(n):
    for d in range(2, int(n ** 0.5) + 1):
        if n % d == 0:
            return False
    return True
"""), 2),
    _p("count_substring", "def count_substring(s, sub):", (
        "Write a function to count the occurrences of a substring in a string, overlapping ones included.",
        "How many times does sub appear in s when occurrences may overlap?",
        "Count every (possibly overlapping) position where the pattern occurs in the text.",
    ), (
        'assert count_substring("aaaa", "aa") == 3',
        'assert count_substring("abcabc", "abc") == 2',
        'assert count_substring("abc", "d") == 0',
    ), """
def count_substring(s, sub):
    return sum(1 for i in range(len(s) - len(sub) + 1) if s[i:i + len(sub)] == sub)
""", ("""
def count_substring(s, sub):
    return s.count(sub)
""", """
def count_substring(s, sub):
    return sum(1 for i in range(len(s) - len(sub)) if s[i:i + len(sub)] == sub)
"""), 3),
    _p("median", "def median(nums):", (
        "Write a function to compute the median of a non-empty list of numbers.",
        "Return the middle value of a list; for an even count, the mean of the two middle values.",
        "Find the median of the given numbers (they are not necessarily sorted).",
    ), (
        "assert median([3, 1, 2]) == 2",
        "assert median([4, 1, 3, 2]) == 2.5",
        "assert median([7]) == 7",
    ), """
def median(nums):
    s = sorted(nums)
    mid = len(s) // 2
    if len(s) % 2:
        return s[mid]
    return (s[mid - 1] + s[mid]) / 2
""", ("""
def median(nums):
    mid = len(nums) // 2
    if len(nums) % 2:
        return nums[mid]
    return (nums[mid - 1] + nums[mid]) / 2
""", """
def median(nums):
    s = sorted(nums)
    return s[len(s) // 2]
"""), 2),
    _p("c_to_f", "def celsius_to_fahrenheit(c):", (
        "Write a function converting a temperature from Celsius to Fahrenheit, rounded to one decimal.",
        "Convert degrees Celsius to degrees Fahrenheit and round the result to 1 decimal place.",
        "Return the Fahrenheit equivalent of a Celsius reading (one decimal).",
    ), (
        "assert celsius_to_fahrenheit(0) == 32.0",
        "assert celsius_to_fahrenheit(37.5) == 99.5",
        "assert celsius_to_fahrenheit(-40) == -40.0",
    ), """
def celsius_to_fahrenheit(c):
    return round(c * 9 / 5 + 32, 1)
""", ("""
def celsius_to_fahrenheit(c):
    return round(c * 9 // 5 + 32, 1)
""", """
def celsius_to_fahrenheit(c):
    return round((c + 32) * 9 / 5, 1)
"""), 1),
    _p("last_word_length", "def last_word_length(s):", (
        "Write a function returning the length of the last word in a string, ignoring trailing spaces.",
        "Given a sentence that may end with spaces, how long is its final word?",
        "Return the number of characters in the last space-separated word of s.",
    ), (
        'assert last_word_length("Hello World") == 5',
        'assert last_word_length("fly me   to the moon  ") == 4',
        'assert last_word_length("a") == 1',
    ), """
def last_word_length(s):
    words = s.split()
    return len(words[-1]) if words else 0
""", ("""
def last_word_length(s):
    return len(s.split(" ")[-1])
""",), 2),
    _p("pairs_with_sum", "def pairs_with_sum(nums, target):", (
        "Write a function counting the index pairs i < j whose elements add up to a target.",
        "How many pairs of different positions in the list have values summing to target?",
        "Count unordered pairs of distinct indices with nums[i] + nums[j] == target.",
    ), (
        "assert pairs_with_sum([1, 2, 3, 4, 3], 6) == 2",
        "assert pairs_with_sum([1, 1, 1], 2) == 3",
        "assert pairs_with_sum([], 5) == 0",
    ), """
def pairs_with_sum(nums, target):
    count = 0
    for i in range(len(nums)):
        for j in range(i + 1, len(nums)):
            if nums[i] + nums[j] == target:
                count += 1
    return count
""", ("""
def pairs_with_sum(nums, target):
    count = 0
    for i in range(len(nums)):
        for j in range(i, len(nums)):
            if nums[i] + nums[j] == target:
                count += 1
    return count
""", """
def pairs_with_sum(nums, target):
    seen = set(nums)
    return sum(1 for x in set(nums) if target - x in seen and x < target - x)
"""), 3),
    _p("compress_string", "def compress_string(s):", (
        "Write a function for run-length encoding: 'aaabcc' becomes 'a3b1c2'.",
        "Compress a string by writing each run of equal characters as the character followed by its count.",
        "Return the run-length encoded form of s (character then run length, e.g. x1 for a single x).",
    ), (
        'assert compress_string("aaabcc") == "a3b1c2"',
        'assert compress_string("") == ""',
        'assert compress_string("x") == "x1"',
    ), """
def compress_string(s):
    out = []
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(f"{s[i]}{j - i}")
        i = j
    return "".join(out)
""", ("""
def compress_string(s):
    if not s:
        return ""
    out, run = [], 1
    for prev, ch in zip(s, s[1:]):
        if ch == prev:
            run += 1
        else:
            out.append(f"{prev}{run}")
            run = 1
    return "".join(out)
""",), 3),
    _p("transpose", "def transpose(matrix):", (
        "Write a function to transpose a matrix given as a list of rows (not necessarily square).",
        "Swap rows and columns of a rectangular list-of-lists matrix.",
        "Return the transpose of an m x n matrix represented as nested lists.",
    ), (
        "assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]",
        "assert transpose([[1]]) == [[1]]",
        "assert transpose([]) == []",
    ), """
def transpose(matrix):
    return [list(col) for col in zip(*matrix)]
""", ("""
def transpose(matrix):
    return [[matrix[j][i] for j in range(len(matrix))] for i in range(len(matrix))]
""",), 2),
    _p("nth_fibonacci", "def nth_fibonacci(n):", (
        "Write a function returning the n-th Fibonacci number, with F(0) = 0 and F(1) = 1.",
        "Compute Fibonacci number n iteratively (the sequence starts 0, 1, 1, 2, ...).",
        "Return F(n) of the Fibonacci sequence where F(0) is 0.",
    ), (
        "assert nth_fibonacci(0) == 0",
        "assert nth_fibonacci(1) == 1",
        "assert nth_fibonacci(10) == 55",
    ), """
def nth_fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
""", ("""
def nth_fibonacci(n):
    a, b = 1, 1
    for _ in range(n):
        a, b = b, a + b
    return a
""", """
def nth_fibonacci(n):
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return b
"""), 1),
    _p("leap_year", "def leap_year(y):", (
        "Write a function to decide whether a year is a leap year in the Gregorian calendar.",
        "Return True for leap years (divisible by 4, except centuries not divisible by 400).",
        "Check if the given year has 366 days.",
    ), (
        "assert leap_year(2024) == True",
        "assert leap_year(1900) == False",
        "assert leap_year(2000) == True",
    ), """
def leap_year(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
""", ("""
def leap_year(y):
    return y % 4 == 0 and y % 100 != 0
""", """
def leap_year(y):
    return y % 4 == 0
"""), 1),
    _p("sort_by_length", "def sort_by_length(words):", (
        "Write a function sorting words by length, shortest first, keeping the original order for ties.",
        "Order a list of strings by increasing length with a stable sort.",
        "Return the words sorted from shortest to longest; equal-length words stay in their input order.",
    ), (
        'assert sort_by_length(["ccc", "a", "bb"]) == ["a", "bb", "ccc"]',
        'assert sort_by_length(["bb", "aa", "c"]) == ["c", "bb", "aa"]',
        "assert sort_by_length([]) == []",
    ), """
def sort_by_length(words):
    return sorted(words, key=len)
""", ("""
def sort_by_length(words):
    return sorted(words, key=len, reverse=True)[::-1]
""", """
def sort_by_length(words):
    return sorted(words, key=lambda w: (len(w), w))
"""), 3),
    _p("is_anagram", "def is_anagram(a, b):", (
        "Write a function that checks whether two phrases are anagrams, ignoring spaces and case.",
        "Return True if the letters of a can be rearranged into b (spaces and capitalisation don't count).",
        "Are the two strings anagrams of each other when case and blanks are ignored?",
    ), (
        'assert is_anagram("Listen", "Silent") == True',
        'assert is_anagram("Dormitory", "dirty room") == True',
        'assert is_anagram("abc", "abd") == False',
    ), """
def is_anagram(a, b):
    def norm(s):
        return sorted(s.replace(" ", "").lower())
    return norm(a) == norm(b)
""", ("""
def is_anagram(a, b):
    return sorted(a.lower()) == sorted(b.lower())
""", """
def is_anagram(a, b):
    return sorted(a) == sorted(b)
"""), 2),
    _p("sum_of_multiples", "def sum_of_multiples(n):", (
        "Write a function returning the sum of all natural numbers below n that are multiples of 3 or 5.",
        "Add up every number smaller than n divisible by 3 or by 5.",
        "Compute the sum of the multiples of 3 or 5 strictly less than n.",
    ), (
        "assert sum_of_multiples(10) == 23",
        "assert sum_of_multiples(16) == 60",
        "assert sum_of_multiples(1) == 0",
    ), """
def sum_of_multiples(n):
    return sum(i for i in range(n) if i % 3 == 0 or i % 5 == 0)
""", ("""
def sum_of_multiples(n):
    return sum(range(0, n, 3)) + sum(range(0, n, 5))
""", """
def sum_of_multiples(n):
    return sum(i for i in range(n + 1) if i % 3 == 0 or i % 5 == 0)
"""), 3),
    _p("diagonal_sum", "def diagonal_sum(m):", (
        "Write a function to sum both diagonals of a square matrix, counting the centre once.",
        "Return the sum of the primary and secondary diagonals of an n x n matrix without double-counting.",
        "Add the elements on both diagonals of a square grid (a shared middle element counts once).",
    ), (
        "assert diagonal_sum([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == 25",
        "assert diagonal_sum([[1, 2], [3, 4]]) == 10",
        "assert diagonal_sum([[5]]) == 5",
    ), """
def diagonal_sum(m):
    n = len(m)
    total = sum(m[i][i] + m[i][n - 1 - i] for i in range(n))
    if n % 2:
        total -= m[n // 2][n // 2]
    return total
""", ("""
def diagonal_sum(m):
    n = len(m)
    return sum(m[i][i] + m[i][n - 1 - i] for i in range(n))
""", """
def diagonal_sum(m):
    n = len(m)
    total = sum(m[i][i] + m[i][n - i] for i in range(n - 1))
    return total
"""), 4),
    _p("index_of_min", "def index_of_min(nums):", (
        "Write a function returning the index of the first occurrence of the smallest element.",
        "Find the position of the minimum of a non-empty list; on ties return the earliest position.",
        "Return the lowest index at which the list's minimum value occurs.",
    ), (
        "assert index_of_min([3, 1, 2, 1]) == 1",
        "assert index_of_min([5]) == 0",
        "assert index_of_min([2, 2]) == 0",
    ), """
def index_of_min(nums):
    best = 0
    for i in range(1, len(nums)):
        if nums[i] < nums[best]:
            best = i
    return best
""", ("""
def index_of_min(nums):
    best = 0
    for i in range(1, len(nums)):
        if nums[i] <= nums[best]:
            best = i
    return best
""",), 2),
    _p("balanced_brackets", "def balanced_brackets(s):", (
        "Write a function to check whether the brackets (), [] and {} in a string are balanced.",
        "Return True if every opening bracket is closed by the matching bracket in the right order.",
        "Validate the bracket structure of an expression containing (), [] and {}.",
    ), (
        'assert balanced_brackets("{[()()]}") == True',
        'assert balanced_brackets("([)]") == False',
        'assert balanced_brackets("((") == False',
    ), """
def balanced_brackets(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
""", ("""
def balanced_brackets(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return True
""", """
def balanced_brackets(s):
    return all(s.count(o) == s.count(c) for o, c in ("()", "[]", "{}"))
"""), 4),
)


# --------------------------------------------------------------------------------------------------------
# Completions and extraction
# --------------------------------------------------------------------------------------------------------
_INTROS = (
    "Here is a Python function that does this:",
    "Sure! Here's an implementation:",
    "You can solve this with a short function:",
    "Here's one way to write it:",
    "The following function should work:",
)
_OUTROS = (
    "\n\nThis runs in linear time and handles the edge cases in the tests.",
    "\n\nThe function iterates over the input once and builds the result.",
    "\n\nLet me know if you need a version with type hints.",
    "",
    "",
)


def job_text(problem: Problem, request: str) -> str:
    """MBPP-style job text: the request, the signature, then the tests."""
    return f"{request}\n\n{problem.signature}\n\nYour code should pass these tests:\n{problem.reference}"


def render_completion(code: str, problem: Problem, style: str, rng) -> str:
    """A raw completion around `code` in one of the styles models use."""
    if style == "fenced":
        return f"{rng.choice(_INTROS)}\n\n```python\n{code}\n```{rng.choice(_OUTROS)}"
    if style == "fenced_usage":
        return (f"{rng.choice(_INTROS)}\n\n```python\n{code}\n\n\n# Example usage\n{problem.usage()}\n```"
                f"{rng.choice(_OUTROS)}")
    if style == "bare_fence":
        return f"```python\n{code}\n```"
    if style == "unfenced":
        return f"{rng.choice(_INTROS)}\n\n{code}\n\nExample:\n>>> {problem.usage()[6:-1]}"
    if style == "doctest_after":
        return (f"```\n{code}\n```\n\nFor example, `{problem.usage()[6:-1]}` returns the value checked by the "
                "first test.")
    raise ValueError(style)


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_CODE_START = re.compile(r"^(def |import |from |class |@)")


def extract_code(raw: str) -> str:
    """The code of a completion, as recorded in `output`: the first fenced block if any; otherwise the lines
    from the first ``def``/``import``/``class`` line up to the first unindented line of prose."""
    m = _FENCE.search(raw)
    if m:
        return m.group(1).strip("\n")
    lines = raw.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return raw.strip()
    out = []
    for line in lines[start:]:
        prose = line and not line[0].isspace() and not _CODE_START.match(line)
        if prose and not line.startswith(("#", "print(")):
            break
        out.append(line)
    return "\n".join(out).strip("\n")


def program(output: str, reference: str) -> str:
    """The program that grades an output: the extracted code followed by the tests."""
    return f"{output}\n\n{reference}\n"
