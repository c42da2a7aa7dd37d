// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// Pays every member in one call: stops working once the list is long.
contract Payroll {
    address[] public members;
    mapping(address => uint256) public owed;
    uint256 public total;

    function join() external {
        members.push(msg.sender);
    }

    function accrue(uint256 amount) external {
        for (uint256 i = 0; i < members.length; i++) { // expect: unbounded-loop
            owed[members[i]] += amount;
        }
    }

    function sum() external {
        uint256 i = 0;
        uint256 s = 0;
        while (i < members.length) { // expect: unbounded-loop
            s += owed[members[i]];
            i++;
        }
        total = s;
    }

    /// A page of fixed size: not reported.
    function accruePage(uint256 from, uint256 amount) external {
        uint256 end = from + 50;
        for (uint256 i = from; i < end; i++) {
            owed[members[i]] += amount;
        }
    }
}
