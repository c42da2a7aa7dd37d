//! Every string the console shows, one table per language. [`Key`] lists
//! the strings; [`zh`] and [`en`] are the two tables, each a `match` with
//! no catch-all arm, so a key missing from either table does not compile
//! (and the tests below check what the compiler cannot: no empty string,
//! no Chinese in the English table, Chinese in the Chinese one).

/// The console's languages. Chinese is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文 (zh-CN).
    #[default]
    Zh,
    /// English.
    En,
}

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "govchain_lang";

impl Lang {
    /// The value of the `lang` attribute of `<html>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The value kept in [`LANG_COOKIE`].
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language a `Cookie` header (or `document.cookie`) chose;
    /// Chinese when none or an unknown one.
    pub fn from_cookies(cookies: &str) -> Lang {
        cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == LANG_COOKIE)
            .map_or(Lang::Zh, |(_, v)| if v.trim() == "en" { Lang::En } else { Lang::Zh })
    }

    /// The string for `key` in this language.
    pub fn t(self, key: Key) -> &'static str {
        match self {
            Lang::Zh => zh(key),
            Lang::En => en(key),
        }
    }
}

macro_rules! keys {
    ($($k:ident),* $(,)?) => {
        /// A string of the console (see the tables [`zh`] and [`en`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Key { $($k),* }
        impl Key {
            /// Every key.
            pub const ALL: &'static [Key] = &[$(Key::$k),*];
        }
    };
}

keys! {
    Product, SwitchLang, Loading, Home, Organizations, SignIn, SignOut, SignedOut,
    Username, Password, SessionExpired, NotSignedIn, WrongCredentials, Locked, Frozen,
    ChangePassword, ForcedChange, CurrentPassword, NewPassword, ConfirmPassword,
    PasswordMismatch, PasswordPolicy, WrongCurrentPassword, PasswordChanged, Save,
    RequestFailed, NetworkError, PlatformOverview, PendingApprovals, NoPending,
    Chains, Nodes, RecentOperations, NoOperations, ByState, Total, MyDashboard,
    MyChains, NoChains, MyRequests, NoRequests, Quota, Granted, Used, Cpu, Memory,
    Storage, Name, Domain, Description, Status, Created, Actions, CreateOrg,
    AdminUsername, AdminRealName, Create, DomainTaken, UsernameTaken, InvalidField,
    InitialPassword, InitialPasswordNote, Copy, Copied, Forbidden, StateRunning,
    StateStopped, StateProvisioning, StatePending, StateActive, StateRejected,
    StateCancelled, StateFailed, KindChain, KindNodes, Request, Kind, Time,
    Operator, Action, Result, Consensus, Height, Platform, NotFound, BackHome,
    Welcome, Required,
    Requests, Approvals, AllRequests, All, What, More, NodesUnit, Chain, ChainNameTaken, NotMember, OrgNotActive, NoSuchChain, Solo, SuiteGm, RoleConsensus, RoleBackup, NewRequest, ChainName, Suite, NodeCount, MaxNodes, BlockPolicy, MaxTxs, MaxBytes, MaxWaitMs, Role, ResourcesPerNode, Recommended, Purpose, Submit, RequestSubmitted, Approved, Submitted, AwaitingApproval, Opinion, Approve, Reject, ApprovalsLead, Decision, Leader, RaftRole, Restarts, Members, Joined, AddNode, NodeAdded, QuotaExceeded, NodeLimit, ChainNotRunning, Saved,
    Invitations, InvitationsLead, NoInvitations, Direction, Note, Received, Sent, Accept, Decline, RequestNodes, Messages, OnlyUnread, NoUnread, NoMessages, MarkRead, MsgRequestSubmitted, MsgRequestApproved, MsgRequestRejected, MsgRequestRunning, MsgRequestFailed, MsgOrgRegistered, MsgOrgReviewed, MsgInvitationReceived, MsgInvitationAccepted, MsgInvitationDeclined, MsgOther, LastNode, ChainProvisioning, Working, Done, Stop, Start, Restart, Delete, Remove, Bundle, Confirm, Cancel, ConfirmStopChain, ConfirmStartChain, ConfirmRestartChain, ConfirmDeleteChain, ConfirmStopNode, ConfirmStartNode, ConfirmRestartNode, ConfirmRemoveNode, NoSuchOrg, AlreadyMember, AlreadyInvited, InvalidDomain, InviteDomain, Invite, InvitationSent, StateAccepted, StateDeclined, Counterparty, AwaitingAnswer,
    Users, RealName, Roles, LastLogin, ResetPassword, ConfirmReset, Freeze, Unfreeze, ConfirmFreeze, ConfirmUnfreeze, NewUser, AuditLog, Filter, ExportCsv, VerifyChain, ChainIntact, ChainBroken, Detail, StateFrozen,
    RoleSuperAdmin, RoleOrgAdmin, RoleChainDeveloper, RoleChainOperator, RoleChainAuditor, RoleUser, ListSep, PendingInvitations, LatestMessages, Quotas, QuotasLead, NoOrgs, QuotasNote,
    RolesPage, Permissions, BuiltIn, Custom, Edit, EditRole, NewRole, RoleTaken, RoleInUse, ConfirmDeleteRole, PermPlatformAdmin, PermRequestApprove, PermOrgManage, PermUserManage, PermRoleManage, PermRequestCreate, PermRequestView, PermChainView, PermChainOperate, PermChainDelete, PermChainInvite, PermInvitationRespond, PermNodeDownload, PermContractDeploy, PermMonitorView, PermAuditView, PermAuditExport, OneTimePassword, OneTimePasswordNote,
    Account, Identity, IdentityLead, IdentityDocument, IdentityNumber, ResidentId, Passport, StateUnverified, StateVerified, IdentityAwaiting, IdentitySubmitted, AlreadyVerified, InvalidIdNumber, Reviewer, AllStates, MsgIdentitySubmitted, MsgIdentityReviewed, Profile, Organization, ResubmitIdentity,
    Health, HealthHealthy, HealthDegraded, HealthDown,
    Explorer, Search, SearchHint, NothingFound, LatestBlocks, Block, BlockHash, PrevHash, TxCount, Proposer, TxId, TxType, Sender, Recipient, Transaction, Contract, Address, Input, Events, Proof, ProofVerified, ProofNotVerified,
    Evidence, EvidenceLead, RecordEvidence, VerifyEvidence, File, RecordIt, VerifyIt, EvidenceMatch, EvidenceNoMatch, EvidenceRecorded, Digest, AlreadyRecorded, ChooseFile,
    Statistics, TxPerBlock, MeanBlockTime, ByType,
}

/// 简体中文.
pub fn zh(key: Key) -> &'static str {
    use Key::*;
    match key {
        Product => "政务链服务平台",
        SwitchLang => "English",
        Loading => "加载中……",
        Home => "首页",
        Organizations => "组织管理",
        SignIn => "登录",
        SignOut => "退出登录",
        SignedOut => "您已退出登录。",
        Username => "用户名",
        Password => "密码",
        SessionExpired => "会话因长时间未操作已过期，请重新登录。",
        NotSignedIn => "请先登录。",
        WrongCredentials => "用户名或密码错误。",
        Locked => "登录失败次数过多，账号已临时锁定，请稍后再试。",
        Frozen => "该账号已被冻结。",
        ChangePassword => "修改密码",
        ForcedChange => "您的密码由管理员设置，继续使用前请先修改密码。",
        CurrentPassword => "当前密码",
        NewPassword => "新密码",
        ConfirmPassword => "确认新密码",
        PasswordMismatch => "两次输入的新密码不一致。",
        PasswordPolicy => {
            "新密码须为 10 至 128 个字符，至少包含小写字母、大写字母、数字、符号中的三类，且不得包含用户名。"
        }
        WrongCurrentPassword => "当前密码错误。",
        PasswordChanged => "密码已修改。",
        Save => "保存",
        RequestFailed => "操作失败",
        NetworkError => "无法连接服务器，请检查网络后重试。",
        PlatformOverview => "平台概览",
        PendingApprovals => "待审批申请",
        NoPending => "暂无待审批的申请。",
        Chains => "链",
        Nodes => "节点",
        RecentOperations => "最近操作",
        NoOperations => "暂无操作记录。",
        ByState => "按状态",
        Total => "合计",
        MyDashboard => "我的工作台",
        MyChains => "我的链",
        NoChains => "暂无链。",
        MyRequests => "我的申请",
        NoRequests => "暂无申请。",
        Quota => "资源配额",
        Granted => "已分配",
        Used => "已使用",
        Cpu => "处理器（毫核）",
        Memory => "内存（MiB）",
        Storage => "存储（MiB）",
        Name => "名称",
        Domain => "域名",
        Description => "描述",
        Status => "状态",
        Created => "创建时间",
        Actions => "操作",
        CreateOrg => "新建组织",
        AdminUsername => "管理员用户名",
        AdminRealName => "管理员姓名",
        Create => "创建",
        DomainTaken => "该域名已被其他组织使用。",
        UsernameTaken => "该用户名已被使用。",
        InvalidField => "输入不符合要求",
        InitialPassword => "管理员初始密码",
        InitialPasswordNote => "初始密码仅显示这一次，请立即转交管理员；其首次登录时须修改密码。",
        Copy => "复制",
        Copied => "已复制",
        Forbidden => "您没有执行此操作的权限。",
        StateRunning => "运行中",
        StateStopped => "已停止",
        StateProvisioning => "部署中",
        StatePending => "待审批",
        StateActive => "正常",
        StateRejected => "已驳回",
        StateCancelled => "已撤销",
        StateFailed => "失败",
        KindChain => "新建链",
        KindNodes => "新增节点",
        Request => "申请",
        Kind => "类型",
        Time => "时间",
        Operator => "操作人",
        Action => "动作",
        Result => "结果",
        Consensus => "共识",
        Height => "区块高度",
        Platform => "平台运营方",
        NotFound => "页面不存在。",
        BackHome => "返回首页",
        Welcome => "欢迎",
        Required => "此项为必填项。",
        Requests => "资源申请",
        Approvals => "审批",
        AllRequests => "全部申请",
        All => "全部",
        What => "申请内容",
        More => "加载更多",
        NodesUnit => "个节点",
        Chain => "链",
        Statistics => "统计",
        TxPerBlock => "最近 50 个区块的每块交易数",
        MeanBlockTime => "平均出块间隔",
        ByType => "按交易类型",
        Evidence => "存证",
        EvidenceLead => "文件只在浏览器中读取并计算摘要，上链的只有摘要。本链的摘要算法：",
        RecordEvidence => "文件存证",
        VerifyEvidence => "存证核验",
        File => "文件",
        RecordIt => "上链存证",
        VerifyIt => "核验",
        EvidenceMatch => "一致：该文件与链上存证记录相符",
        EvidenceNoMatch => "不一致：链上没有该文件的存证记录",
        EvidenceRecorded => "已上链存证",
        Digest => "摘要",
        AlreadyRecorded => "该文件已存证，不能重复存证。",
        ChooseFile => "请先选择文件。",
        Explorer => "区块链浏览器",
        Search => "搜索",
        SearchHint => "区块高度、区块哈希、交易 ID 或地址",
        NothingFound => "链上未找到：",
        LatestBlocks => "最新区块",
        Block => "区块",
        BlockHash => "区块哈希",
        PrevHash => "上一区块哈希",
        TxCount => "交易数",
        Proposer => "出块节点",
        TxId => "交易 ID",
        TxType => "交易类型",
        Sender => "发送方",
        Recipient => "接收方",
        Transaction => "交易",
        Contract => "合约",
        Address => "地址",
        Input => "调用参数",
        Events => "事件",
        Proof => "存在性证明",
        ProofVerified => "已验证：交易在区块中，区块头哈希与区块 ID 一致",
        ProofNotVerified => "未通过验证",
        ChainNameTaken => "本组织已有同名的链。",
        NotMember => "本组织不是该链的成员，请先接受邀请。",
        OrgNotActive => "本组织尚未通过平台审核，暂不能提交申请。",
        NoSuchChain => "该链不存在。",
        Solo => "单节点（Solo）",
        SuiteGm => "国密 SM2 / SM3",
        RoleConsensus => "共识节点",
        RoleBackup => "备份节点",
        NewRequest => "提交申请",
        ChainName => "链名称",
        Suite => "密码套件",
        NodeCount => "节点数",
        MaxNodes => "节点上限",
        BlockPolicy => "出块策略",
        MaxTxs => "每块最多交易数",
        MaxBytes => "每块最大字节数",
        MaxWaitMs => "出块等待（毫秒）",
        Role => "角色",
        ResourcesPerNode => "每个节点的资源",
        Recommended => "推荐",
        Purpose => "申请用途",
        Submit => "提交",
        RequestSubmitted => "申请已提交：",
        Approved => "已批准",
        Submitted => "已提交",
        AwaitingApproval => "等待审批",
        Opinion => "审批意见",
        Approve => "批准",
        Reject => "驳回",
        ApprovalsLead => "各部门提交的待审批资源申请，新申请会自动出现。",
        Decision => "审批",
        Leader => "主节点",
        RaftRole => "共识角色",
        Restarts => "重启次数",
        Members => "成员组织",
        Joined => "加入时间",
        AddNode => "新增节点",
        NodeAdded => "节点已添加：",
        QuotaExceeded => "超出资源配额：本组织已分配的配额已用完，请先提交资源申请。",
        NodeLimit => "该链已达到节点上限。",
        ChainNotRunning => "该链当前不可执行此操作（需为运行中的 Raft 链）。",
        Saved => "已保存。",
        Invitations => "链邀请",
        InvitationsLead => "本组织收到和发出的链邀请；收到的新邀请会自动出现。",
        NoInvitations => "暂无邀请。",
        Direction => "方向",
        Note => "附言",
        Received => "收到",
        Sent => "发出",
        Accept => "接受",
        Decline => "拒绝",
        RequestNodes => "申请节点",
        Messages => "消息中心",
        OnlyUnread => "只看未读",
        NoUnread => "没有未读消息。",
        NoMessages => "暂无消息。",
        MarkRead => "标为已读",
        MsgRequestSubmitted => "新的资源申请待审批",
        MsgRequestApproved => "资源申请已批准",
        MsgRequestRejected => "资源申请被驳回",
        MsgRequestRunning => "资源已开通",
        MsgRequestFailed => "资源开通失败",
        MsgOrgRegistered => "新组织注册待审核",
        MsgOrgReviewed => "组织实名审核有结果",
        MsgInvitationReceived => "收到链邀请",
        MsgInvitationAccepted => "链邀请已被接受",
        MsgInvitationDeclined => "链邀请已被拒绝",
        MsgOther => "平台通知",
        LastNode => "不能移除最后一个节点；如需停用，请删除整条链。",
        ChainProvisioning => "该链仍在开通中，请稍后再试。",
        Working => "正在执行……",
        Done => "已完成。",
        Stop => "停止",
        Start => "启动",
        Restart => "重启",
        Delete => "删除",
        Remove => "移除",
        Bundle => "下载证书与配置",
        Confirm => "确认",
        Cancel => "取消",
        ConfirmStopChain => "确定停止这条链的全部节点吗？数据会保留。",
        ConfirmStartChain => "确定启动这条链的全部节点吗？",
        ConfirmRestartChain => "确定重启这条链的全部节点吗？",
        ConfirmDeleteChain => "确定删除这条链吗？全部节点和数据将被删除，且不可恢复。",
        ConfirmStopNode => "确定停止该节点吗？",
        ConfirmStartNode => "确定启动该节点吗？",
        ConfirmRestartNode => "确定重启该节点吗？",
        ConfirmRemoveNode => "确定移除该节点吗？它将退出共识，数据被清除，配额退回。",
        NoSuchOrg => "没有使用该域名的已审核组织。",
        AlreadyMember => "该组织已是本链成员。",
        AlreadyInvited => "已向该组织发出邀请，正等待其答复。",
        InvalidDomain => "域名格式不正确。",
        InviteDomain => "邀请组织（域名）",
        Invite => "发送邀请",
        InvitationSent => "邀请已发送：",
        StateAccepted => "已接受",
        StateDeclined => "已拒绝",
        Counterparty => "对方组织",
        AwaitingAnswer => "待答复",
        Users => "用户管理",
        RealName => "姓名",
        Roles => "角色",
        LastLogin => "最近登录",
        ResetPassword => "重置密码",
        ConfirmReset => "确定重置该用户的密码吗？新的一次性密码只显示一次。",
        Freeze => "冻结",
        Unfreeze => "解冻",
        ConfirmFreeze => "确定冻结该用户吗？其会话和令牌将立即失效。",
        ConfirmUnfreeze => "确定解冻该用户吗？",
        NewUser => "新建用户",
        AuditLog => "操作日志",
        Filter => "筛选",
        ExportCsv => "导出 CSV",
        VerifyChain => "校验哈希链",
        ChainIntact => "哈希链完整，已校验条目数：",
        ChainBroken => "哈希链被破坏，首个异常条目：",
        Detail => "详情",
        StateFrozen => "已冻结",
        RoleSuperAdmin => "超级管理员",
        RoleOrgAdmin => "组织管理员",
        RoleChainDeveloper => "链开发者",
        RoleChainOperator => "链运维员",
        RoleChainAuditor => "链审计员",
        RoleUser => "普通用户",
        ListSep => "、",
        PendingInvitations => "待答复的链邀请",
        LatestMessages => "最新消息",
        Quotas => "配额总览",
        QuotasLead => "各部门已分配与已使用的资源（已用 / 已分配）。",
        NoOrgs => "暂无部门。",
        QuotasNote => "配额随资源申请的批准而增加，节点移除或开通失败时退回。",
        RolesPage => "角色管理",
        Permissions => "权限",
        BuiltIn => "内置",
        Custom => "自定义",
        Edit => "编辑",
        EditRole => "编辑角色",
        NewRole => "新建角色",
        RoleTaken => "该角色名已被使用。",
        RoleInUse => "该角色仍分配给用户，不能删除。",
        ConfirmDeleteRole => "确定删除该角色吗？",
        PermPlatformAdmin => "平台管理",
        PermRequestApprove => "审批资源申请",
        PermOrgManage => "管理本组织",
        PermUserManage => "管理用户",
        PermRoleManage => "管理角色",
        PermRequestCreate => "提交资源申请",
        PermRequestView => "查看申请与配额",
        PermChainView => "查看链与节点",
        PermChainOperate => "运维链与节点",
        PermChainDelete => "删除链",
        PermChainInvite => "邀请组织入链",
        PermInvitationRespond => "答复链邀请",
        PermNodeDownload => "下载节点证书与日志",
        PermContractDeploy => "部署合约",
        PermMonitorView => "查看监控",
        PermAuditView => "查看操作日志",
        PermAuditExport => "导出操作日志",
        OneTimePassword => "一次性密码",
        OneTimePasswordNote => "一次性密码仅显示这一次，请立即转交本人；其首次登录时须修改密码。",
        Account => "我的账户",
        Identity => "实名认证",
        IdentityLead => "提交姓名和证件号码后，由本组织管理员审核。证件号码经校验后只保存脱敏形式。",
        IdentityDocument => "证件类型",
        IdentityNumber => "证件号码",
        ResidentId => "居民身份证",
        Passport => "护照",
        StateUnverified => "未认证",
        StateVerified => "已认证",
        IdentityAwaiting => "待审核",
        IdentitySubmitted => "已提交，等待管理员审核。",
        AlreadyVerified => "您的实名认证已通过，无需再次提交。",
        InvalidIdNumber => "证件号码无效：请检查位数和校验位。",
        Reviewer => "审核人",
        AllStates => "全部状态",
        MsgIdentitySubmitted => "实名认证待审核",
        MsgIdentityReviewed => "实名认证已审核",
        Profile => "账户信息",
        Organization => "所属组织",
        ResubmitIdentity => "重新提交",
        Health => "健康状态",
        HealthHealthy => "正常",
        HealthDegraded => "降级运行",
        HealthDown => "不可用",
    }
}

/// English.
pub fn en(key: Key) -> &'static str {
    use Key::*;
    match key {
        Product => "Government Chain Service Platform",
        SwitchLang => "中文",
        Loading => "Loading…",
        Home => "Home",
        Organizations => "Organizations",
        SignIn => "Sign in",
        SignOut => "Sign out",
        SignedOut => "You have signed out.",
        Username => "User name",
        Password => "Password",
        SessionExpired => "Your session expired after a period of inactivity. Please sign in again.",
        NotSignedIn => "Please sign in first.",
        WrongCredentials => "Wrong user name or password.",
        Locked => "Too many failed sign-ins; the account is locked for a while. Try again later.",
        Frozen => "This account is frozen.",
        ChangePassword => "Change password",
        ForcedChange => "Your password was set by an administrator. Change it before you continue.",
        CurrentPassword => "Current password",
        NewPassword => "New password",
        ConfirmPassword => "Confirm new password",
        PasswordMismatch => "The two new passwords differ.",
        PasswordPolicy => {
            "The new password must be 10 to 128 characters, use three of lower-case letters, upper-case letters, digits and symbols, and must not contain the user name."
        }
        WrongCurrentPassword => "The current password is wrong.",
        PasswordChanged => "The password was changed.",
        Save => "Save",
        RequestFailed => "The operation failed",
        NetworkError => "The server cannot be reached; check the network and try again.",
        PlatformOverview => "Platform overview",
        PendingApprovals => "Pending approvals",
        NoPending => "No request awaits approval.",
        Chains => "Chains",
        Nodes => "Nodes",
        RecentOperations => "Recent operations",
        NoOperations => "No operations yet.",
        ByState => "By state",
        Total => "Total",
        MyDashboard => "My dashboard",
        MyChains => "My chains",
        NoChains => "No chains yet.",
        MyRequests => "My requests",
        NoRequests => "No requests yet.",
        Quota => "Quota",
        Granted => "Granted",
        Used => "Used",
        Cpu => "CPU (millicores)",
        Memory => "Memory (MiB)",
        Storage => "Storage (MiB)",
        Name => "Name",
        Domain => "Domain",
        Description => "Description",
        Status => "Status",
        Created => "Created",
        Actions => "Actions",
        CreateOrg => "New organization",
        AdminUsername => "Admin user name",
        AdminRealName => "Admin real name",
        Create => "Create",
        DomainTaken => "Another organization already uses this domain.",
        UsernameTaken => "This user name is taken.",
        InvalidField => "Invalid input",
        InitialPassword => "Admin's initial password",
        InitialPasswordNote => {
            "The initial password is shown only now; hand it to the admin, who must change it at the first sign-in."
        }
        Copy => "Copy",
        Copied => "Copied",
        Forbidden => "You are not permitted to do this.",
        StateRunning => "Running",
        StateStopped => "Stopped",
        StateProvisioning => "Provisioning",
        StatePending => "Pending",
        StateActive => "Active",
        StateRejected => "Rejected",
        StateCancelled => "Cancelled",
        StateFailed => "Failed",
        KindChain => "New chain",
        KindNodes => "More nodes",
        Request => "Request",
        Kind => "Kind",
        Time => "Time",
        Operator => "Operator",
        Action => "Action",
        Result => "Result",
        Consensus => "Consensus",
        Height => "Height",
        Platform => "Platform operator",
        NotFound => "No such page.",
        BackHome => "Back to home",
        Welcome => "Welcome",
        Required => "This field is required.",
        Requests => "Requests",
        Approvals => "Approvals",
        AllRequests => "All requests",
        All => "All",
        What => "What",
        More => "Load more",
        NodesUnit => "node(s)",
        Chain => "Chain",
        Statistics => "Statistics",
        TxPerBlock => "Transactions per block over the latest 50 blocks",
        MeanBlockTime => "Mean block time",
        ByType => "By transaction type",
        Evidence => "Evidence",
        EvidenceLead => {
            "The file is read and hashed in this browser; only its digest goes on chain. This chain's hash:"
        }
        RecordEvidence => "Record a document",
        VerifyEvidence => "Verify a document",
        File => "File",
        RecordIt => "Record on chain",
        VerifyIt => "Verify",
        EvidenceMatch => "Match: the file matches the evidence on chain",
        EvidenceNoMatch => "No match: no evidence on chain holds this file",
        EvidenceRecorded => "Recorded on chain",
        Digest => "Digest",
        AlreadyRecorded => "This document was recorded already.",
        ChooseFile => "Choose a file first.",
        Explorer => "Explorer",
        Search => "Search",
        SearchHint => "Block height, block hash, transaction id or address",
        NothingFound => "Nothing on this chain matches:",
        LatestBlocks => "Latest blocks",
        Block => "Block",
        BlockHash => "Block hash",
        PrevHash => "Previous block hash",
        TxCount => "Transactions",
        Proposer => "Proposer",
        TxId => "Transaction id",
        TxType => "Type",
        Sender => "Sender",
        Recipient => "Recipient",
        Transaction => "Transaction",
        Contract => "Contract",
        Address => "Address",
        Input => "Input",
        Events => "Events",
        Proof => "Proof of inclusion",
        ProofVerified => "Verified: the transaction is in the block, and the header hashes to the block id",
        ProofNotVerified => "Not verified",
        ChainNameTaken => "Your organization already has a chain of this name.",
        NotMember => "Your organization is not a member of this chain; accept an invitation first.",
        OrgNotActive => "Your organization is not approved by the platform yet; requests open once it is.",
        NoSuchChain => "No such chain.",
        Solo => "Single node (solo)",
        SuiteGm => "Chinese national SM2 / SM3",
        RoleConsensus => "Consensus node",
        RoleBackup => "Backup node",
        NewRequest => "New request",
        ChainName => "Chain name",
        Suite => "Crypto suite",
        NodeCount => "Node count",
        MaxNodes => "Node limit",
        BlockPolicy => "Block policy",
        MaxTxs => "Most transactions per block",
        MaxBytes => "Most bytes per block",
        MaxWaitMs => "Block wait (ms)",
        Role => "Role",
        ResourcesPerNode => "Resources per node",
        Recommended => "recommended",
        Purpose => "Purpose",
        Submit => "Submit",
        RequestSubmitted => "Request submitted:",
        Approved => "Approved",
        Submitted => "Submitted",
        AwaitingApproval => "Awaiting approval",
        Opinion => "Opinion",
        Approve => "Approve",
        Reject => "Reject",
        ApprovalsLead => "Pending resource requests of the departments; new ones appear by themselves.",
        Decision => "Decision",
        Leader => "Leader",
        RaftRole => "Consensus role",
        Restarts => "Restarts",
        Members => "Members",
        Joined => "Joined",
        AddNode => "Add node",
        NodeAdded => "Node added:",
        QuotaExceeded => {
            "Beyond the quota: your organization's granted quota is used up; submit a resource request first."
        }
        NodeLimit => "The chain is at its node limit.",
        ChainNotRunning => "The chain cannot do this now (it must be a running Raft chain).",
        Saved => "Saved.",
        Invitations => "Invitations",
        InvitationsLead => "Invitations your organization received and sent; new ones appear on their own.",
        NoInvitations => "No invitations.",
        Direction => "Direction",
        Note => "Note",
        Received => "Received",
        Sent => "Sent",
        Accept => "Accept",
        Decline => "Decline",
        RequestNodes => "Request nodes",
        Messages => "Messages",
        OnlyUnread => "Unread only",
        NoUnread => "No unread messages.",
        NoMessages => "No messages.",
        MarkRead => "Mark read",
        MsgRequestSubmitted => "A new resource request awaits approval",
        MsgRequestApproved => "A resource request was approved",
        MsgRequestRejected => "A resource request was rejected",
        MsgRequestRunning => "Resources are running",
        MsgRequestFailed => "Provisioning failed",
        MsgOrgRegistered => "A new organization awaits review",
        MsgOrgReviewed => "The organization's review is done",
        MsgInvitationReceived => "An invitation to a chain arrived",
        MsgInvitationAccepted => "An invitation was accepted",
        MsgInvitationDeclined => "An invitation was declined",
        MsgOther => "Platform notice",
        LastNode => "The last node cannot be removed; delete the chain instead.",
        ChainProvisioning => "The chain is still being provisioned; try again later.",
        Working => "Working…",
        Done => "Done.",
        Stop => "Stop",
        Start => "Start",
        Restart => "Restart",
        Delete => "Delete",
        Remove => "Remove",
        Bundle => "Download certificates and configuration",
        Confirm => "Confirm",
        Cancel => "Cancel",
        ConfirmStopChain => "Stop every node of this chain? Its data is kept.",
        ConfirmStartChain => "Start every node of this chain?",
        ConfirmRestartChain => "Restart every node of this chain?",
        ConfirmDeleteChain => "Delete this chain? Every node and all its data are removed for good.",
        ConfirmStopNode => "Stop this node?",
        ConfirmStartNode => "Start this node?",
        ConfirmRestartNode => "Restart this node?",
        ConfirmRemoveNode => {
            "Remove this node? It leaves consensus, its data is purged and its quota returns."
        }
        NoSuchOrg => "No reviewed organization has that domain.",
        AlreadyMember => "That organization is already a member of the chain.",
        AlreadyInvited => "That organization has been invited and has not answered yet.",
        InvalidDomain => "That is not a valid domain.",
        InviteDomain => "Invite organization (domain)",
        Invite => "Invite",
        InvitationSent => "Invitation sent:",
        StateAccepted => "Accepted",
        StateDeclined => "Declined",
        Counterparty => "Other organization",
        AwaitingAnswer => "Awaiting answer",
        Users => "Users",
        RealName => "Real name",
        Roles => "Roles",
        LastLogin => "Last login",
        ResetPassword => "Reset password",
        ConfirmReset => "Reset this user's password? The new one-time password shows once.",
        Freeze => "Freeze",
        Unfreeze => "Unfreeze",
        ConfirmFreeze => "Freeze this user? Their sessions and tokens stop working at once.",
        ConfirmUnfreeze => "Unfreeze this user?",
        NewUser => "New user",
        AuditLog => "Operation log",
        Filter => "Filter",
        ExportCsv => "Export CSV",
        VerifyChain => "Verify the hash chain",
        ChainIntact => "The hash chain is intact; entries checked:",
        ChainBroken => "The hash chain is broken; first bad entry:",
        Detail => "Detail",
        StateFrozen => "Frozen",
        RoleSuperAdmin => "Super administrator",
        RoleOrgAdmin => "Organization administrator",
        RoleChainDeveloper => "Chain developer",
        RoleChainOperator => "Chain operator",
        RoleChainAuditor => "Chain auditor",
        RoleUser => "User",
        ListSep => ", ",
        PendingInvitations => "Invitations awaiting an answer",
        LatestMessages => "Latest messages",
        Quotas => "Quotas",
        QuotasLead => "Each department's resources, used / granted.",
        NoOrgs => "No departments yet.",
        QuotasNote => {
            "A quota grows with each approved request and returns when nodes are removed or provisioning fails."
        }
        RolesPage => "Roles",
        Permissions => "Permissions",
        BuiltIn => "Built-in",
        Custom => "Custom",
        Edit => "Edit",
        EditRole => "Edit role",
        NewRole => "New role",
        RoleTaken => "That role name is taken.",
        RoleInUse => "The role is still given to users and cannot be deleted.",
        ConfirmDeleteRole => "Delete this role?",
        PermPlatformAdmin => "Platform administration",
        PermRequestApprove => "Approve resource requests",
        PermOrgManage => "Manage the organization",
        PermUserManage => "Manage users",
        PermRoleManage => "Manage roles",
        PermRequestCreate => "Submit resource requests",
        PermRequestView => "See requests and quotas",
        PermChainView => "See chains and nodes",
        PermChainOperate => "Operate chains and nodes",
        PermChainDelete => "Delete chains",
        PermChainInvite => "Invite organizations",
        PermInvitationRespond => "Answer invitations",
        PermNodeDownload => "Download node certificates and logs",
        PermContractDeploy => "Deploy contracts",
        PermMonitorView => "See monitoring",
        PermAuditView => "Read the operation log",
        PermAuditExport => "Export the operation log",
        OneTimePassword => "One-time password",
        OneTimePasswordNote => {
            "The one-time password shows only now; hand it to its owner, who must change it at the first sign-in."
        }
        Account => "My account",
        Identity => "Real-name verification",
        IdentityLead => {
            "Submit your name and document number; your organization's administrator reviews them. The number is checked, then kept only masked."
        }
        IdentityDocument => "Document",
        IdentityNumber => "Document number",
        ResidentId => "Resident identity card",
        Passport => "Passport",
        StateUnverified => "Not verified",
        StateVerified => "Verified",
        IdentityAwaiting => "Awaiting review",
        IdentitySubmitted => "Submitted; awaiting your administrator's review.",
        AlreadyVerified => "Your real name is already verified.",
        InvalidIdNumber => "The document number is not valid: check its length and check character.",
        Reviewer => "Reviewer",
        AllStates => "All states",
        MsgIdentitySubmitted => "Real-name verification to review",
        MsgIdentityReviewed => "Real-name verification reviewed",
        Profile => "Profile",
        Organization => "Organization",
        ResubmitIdentity => "Submit again",
        Health => "Health",
        HealthHealthy => "Healthy",
        HealthDegraded => "Degraded",
        HealthDown => "Down",
    }
}

/// The label of a state or status value the API returns; the value itself
/// when the console does not know it (it is data, not a console string).
pub fn state(lang: Lang, value: &str) -> String {
    let key = match value {
        "running" => Key::StateRunning,
        "stopped" => Key::StateStopped,
        "provisioning" => Key::StateProvisioning,
        "pending" => Key::StatePending,
        "active" => Key::StateActive,
        "rejected" => Key::StateRejected,
        "cancelled" => Key::StateCancelled,
        "failed" => Key::StateFailed,
        "chain" => Key::KindChain,
        "nodes" => Key::KindNodes,
        "consensus" => Key::RoleConsensus,
        "backup" => Key::RoleBackup,
        "accepted" => Key::StateAccepted,
        "declined" => Key::StateDeclined,
        "frozen" => Key::StateFrozen,
        "unverified" => Key::StateUnverified,
        "verified" => Key::StateVerified,
        "healthy" => Key::HealthHealthy,
        "degraded" => Key::HealthDegraded,
        "down" => Key::HealthDown,
        other => return other.to_owned(),
    };
    lang.t(key).to_owned()
}

/// A role's name in `lang`: the built-in ones translated, an
/// organization's own as it named them.
pub fn role(lang: Lang, name: &str) -> String {
    let key = match name {
        "super_admin" => Key::RoleSuperAdmin,
        "org_admin" => Key::RoleOrgAdmin,
        "chain_developer" => Key::RoleChainDeveloper,
        "chain_operator" => Key::RoleChainOperator,
        "chain_auditor" => Key::RoleChainAuditor,
        "user" => Key::RoleUser,
        other => return other.to_owned(),
    };
    lang.t(key).to_owned()
}

/// A permission's name in `lang` (an unknown one, from a newer server,
/// as the API names it).
pub fn permission(lang: Lang, name: &str) -> String {
    let key = match name {
        "platform_admin" => Key::PermPlatformAdmin,
        "request_approve" => Key::PermRequestApprove,
        "org_manage" => Key::PermOrgManage,
        "user_manage" => Key::PermUserManage,
        "role_manage" => Key::PermRoleManage,
        "request_create" => Key::PermRequestCreate,
        "request_view" => Key::PermRequestView,
        "chain_view" => Key::PermChainView,
        "chain_operate" => Key::PermChainOperate,
        "chain_delete" => Key::PermChainDelete,
        "chain_invite" => Key::PermChainInvite,
        "invitation_respond" => Key::PermInvitationRespond,
        "node_download" => Key::PermNodeDownload,
        "contract_deploy" => Key::PermContractDeploy,
        "monitor_view" => Key::PermMonitorView,
        "audit_view" => Key::PermAuditView,
        "audit_export" => Key::PermAuditExport,
        other => return other.to_owned(),
    };
    lang.t(key).to_owned()
}

/// A real-name verification's state in `lang` (`pending` reads "awaiting
/// review" here, not "awaiting approval").
pub fn identity_state(lang: Lang, value: &str) -> String {
    if value == "pending" { lang.t(Key::IdentityAwaiting).to_owned() } else { state(lang, value) }
}

/// An identity document's kind in `lang`.
pub fn identity_kind(lang: Lang, value: &str) -> String {
    match value {
        "resident_id" => lang.t(Key::ResidentId).to_owned(),
        "passport" => lang.t(Key::Passport).to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cjk(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3000}'..='\u{303f}').contains(&c))
    }

    #[test]
    fn every_key_is_in_both_tables() {
        for &k in Key::ALL {
            assert!(!zh(k).trim().is_empty(), "{k:?} is empty in zh");
            assert!(!en(k).trim().is_empty(), "{k:?} is empty in en");
            // The language switch names the other language in its own words.
            if k != Key::SwitchLang {
                assert!(!cjk(en(k)), "{k:?} has Chinese in the English table: {}", en(k));
                assert!(cjk(zh(k)), "{k:?} is not translated in the Chinese table: {}", zh(k));
            }
        }
    }

    #[test]
    fn keys_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for &k in Key::ALL {
            assert!(seen.insert(format!("{k:?}")), "{k:?} twice");
        }
        assert_eq!(seen.len(), Key::ALL.len());
    }

    #[test]
    fn language_from_cookies() {
        assert_eq!(Lang::from_cookies(""), Lang::Zh);
        assert_eq!(Lang::from_cookies("a=b; govchain_lang=en"), Lang::En);
        assert_eq!(Lang::from_cookies("govchain_lang=zh"), Lang::Zh);
        assert_eq!(Lang::from_cookies("govchain_lang=xx"), Lang::Zh);
        assert_eq!(Lang::from_cookies("other_govchain_lang=en"), Lang::Zh);
    }

    #[test]
    fn known_states_are_translated() {
        assert_eq!(state(Lang::Zh, "running"), "运行中");
        assert_eq!(state(Lang::En, "running"), "Running");
        assert_eq!(state(Lang::En, "weird"), "weird");
    }
}
